//! Paging: following each page's next link and collecting the items of every page.

use super::request::Prepared;
use super::{HttpRequest, write_failed};
use crate::clip::clip;
use crate::expr::Expr;
use crate::node::{NodeError, Outcome, RunCx};
use crate::pointer::JsonPointer;
use crate::services::Http;
use rhai::{Array, Dynamic, Map};

/// Checked paging settings.
#[derive(Debug, Clone)]
pub struct Paginate {
    /// The next-link expression over `response`.
    pub next: Expr,
    /// Where the items are in each page.
    pub items: JsonPointer,
    /// The most pages.
    pub max_pages: u32,
}

impl HttpRequest {
    /// Fetches every page, from `prepared` on, and writes `{ status, headers, pages, items }`.
    pub(super) async fn paged(
        &self,
        cx: &mut RunCx<'_>,
        http: &dyn Http,
        mut prepared: Prepared,
        paginate: &Paginate,
    ) -> Result<Outcome, NodeError> {
        let mut items = Array::new();
        let mut pages: rhai::INT = 0;
        loop {
            let response = self.exchange(cx, http, &prepared).await?;
            let status = response.status;
            let (value, _) = self.response_value(response, false)?;
            if !(200..300).contains(&status) {
                let exit = self.status_exit(cx, status, &value);
                cx.write(&self.into, value).map_err(write_failed)?;
                return exit;
            }
            pages += 1;
            // Shared for the expression, then taken back without a copy.
            let shared = value.into_shared();
            let next = cx
                .eval_with(&paginate.next, [("response", shared.clone())])
                .map_err(|e| crate::kinds::eval_failed("paginate.next", e))?
                .flatten();
            let mut page = shared.flatten().try_cast::<Map>().unwrap_or_default();
            let body = page.remove("body").unwrap_or(Dynamic::UNIT);
            let found = paginate.items.take(body).ok_or_else(|| {
                NodeError::new(
                    "http",
                    format!("page {pages} has nothing at `{}`", clip(paginate.items.as_str())),
                )
            })?;
            let kind = crate::kinds::type_name(&found);
            let page_items = found.try_cast::<Array>().ok_or_else(|| {
                NodeError::new(
                    "http",
                    format!(
                        "page {pages}: `{}` is {kind}, not a list",
                        clip(paginate.items.as_str())
                    ),
                )
            })?;
            items.extend(page_items);
            let next = if next.is_unit() {
                None
            } else {
                let kind = crate::kinds::type_name(&next);
                Some(next.into_immutable_string().map_err(|_| {
                    NodeError::expression(format!("`paginate.next` gave {kind}, not a URL or ()"))
                })?)
            };
            let Some(next) = next.filter(|n| !n.is_empty()) else {
                let mut result = page;
                result.insert("pages".into(), Dynamic::from_int(pages));
                result.insert("items".into(), Dynamic::from_array(items));
                cx.write(&self.into, Dynamic::from_map(result)).map_err(write_failed)?;
                // A 2xx: `ok`, unless the flow wires the exact status or its class.
                return self.status_exit(cx, status, &Dynamic::UNIT);
            };
            if pages >= rhai::INT::from(paginate.max_pages) {
                return Err(NodeError::new(
                    "http",
                    format!(
                        "stopped after max_pages ({}) pages with more to fetch; raise `paginate.max_pages`",
                        paginate.max_pages
                    ),
                ));
            }
            prepared.url = prepared
                .url
                .join(&next)
                .map_err(|e| NodeError::new("http", format!("the next link is not a URL ({e})")))?;
        }
    }
}
