//! Which parts of `vars` an expression can read, from its syntax tree.
//!
//! A run may keep a value in a cheaper form than a Rhai value until something reads it (an HTTP
//! response body stays JSON text: see [`crate::vars::Vars::set_json_text`]). Before an
//! expression runs, whatever it can read is turned into Rhai values; everything else stays as it
//! is. The analysis is conservative: any use of `vars` other than a chain of plain property
//! accesses (`vars.page.status`) counts as reading all of it.

use indexmap::IndexSet;
use rhai::{AST, ImmutableString};
use rhai::{ASTNode, Expr};

/// The parts of `vars` an expression can read: paths under `vars` (reading a path reads all
/// that lies below it), or everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarReads {
    all: bool,
    /// A set: a flow's reads are the union of thousands of expressions'.
    paths: IndexSet<Box<[ImmutableString]>>,
}

impl VarReads {
    /// Reads of everything in `vars`.
    #[must_use]
    pub fn all() -> Self {
        Self { all: true, paths: IndexSet::new() }
    }

    /// What the expressions of `ast` (its functions and closures included) can read of `vars`
    /// and of `params`, in one walk of the tree.
    pub(crate) fn of(ast: &AST) -> (Self, Self) {
        let (mut vars, mut params) = (Self::default(), Self::default());
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some((ASTNode::Expr(node @ Expr::Variable(var, ..)), above)) = path.split_last()
            {
                let reads = match var.1.as_str() {
                    "vars" => &mut vars,
                    "params" => &mut params,
                    _ => return true,
                };
                match chain_after(above, node) {
                    Some(properties) if !properties.is_empty() => {
                        reads.add(properties.into_boxed_slice());
                    }
                    _ => reads.all = true,
                }
            }
            !(vars.all && params.all)
        });
        for reads in [&mut vars, &mut params] {
            if reads.all {
                reads.paths.clear();
            }
        }
        (vars, params)
    }

    /// Adds what `other` reads.
    pub fn extend(&mut self, other: &VarReads) {
        if other.all {
            *self = Self::all();
        } else if !self.all {
            for path in &other.paths {
                self.add(path.clone());
            }
        }
    }

    fn add(&mut self, path: Box<[ImmutableString]>) {
        self.paths.insert(path);
    }

    /// The members read at the top (`from` of `params.from.len`), when not everything is.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().filter_map(|path| path.first().map(ImmutableString::as_str))
    }

    /// Whether nothing is read.
    pub(crate) fn is_nothing(&self) -> bool {
        !self.all && self.paths.is_empty()
    }

    /// Whether everything in `vars` may be read.
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether the value at `path` (segments under `vars`) may be read, in whole or in part:
    /// some read path lies on it, above it or below it.
    #[must_use]
    pub fn touches(&self, path: &[ImmutableString]) -> bool {
        self.all
            || self.paths.iter().any(|read| {
                let common = read.len().min(path.len());
                read[..common] == path[..common]
            })
    }
}

/// The properties read by the chain `vars.a.b…` whose root is `node`, the last of the nodes
/// `above` it being its parent: `None` when `vars` is not the root of a chain (bare, indexed,
/// an argument). The chain stops at the first step that is not a plain property (an index, a
/// method call): what comes after reads inside the value reached so far, and an empty list
/// means `vars` itself is read.
fn chain_after(above: &[ASTNode], node: &Expr) -> Option<Vec<ImmutableString>> {
    let (ASTNode::Expr(parent), above) = above.split_last()? else {
        return None;
    };
    let Expr::Dot(dot, ..) = parent else {
        return None;
    };
    // Rhai stores `m[vars].b` as `m[ vars.b ]`: that chain is an index, not a read of `vars.b`.
    if let Some(ASTNode::Expr(Expr::Index(index, ..))) = above.last()
        && std::ptr::eq(&index.rhs, *parent)
    {
        return None;
    }
    if !std::ptr::eq(&dot.lhs, node) {
        return None;
    }
    let mut properties = Vec::new();
    let mut rest = &dot.rhs;
    loop {
        match rest {
            Expr::Property(property, ..) => {
                properties.push(property.2.clone());
                return Some(properties);
            }
            Expr::Dot(next, ..) => {
                let Expr::Property(property, ..) = &next.lhs else {
                    return Some(properties);
                };
                properties.push(property.2.clone());
                rest = &next.rhs;
            }
            Expr::Index(next, ..) => {
                if let Expr::Property(property, ..) = &next.lhs {
                    properties.push(property.2.clone());
                }
                return Some(properties);
            }
            _ => return Some(properties),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ExprEngine;

    fn reads(source: &str) -> Option<Vec<String>> {
        let expr = ExprEngine::new().compile_expression(source, &["item"]).unwrap();
        let reads = expr.reads();
        (!reads.is_all()).then(|| {
            let mut paths: Vec<String> = reads.paths.iter().map(|p| p.join(".")).collect();
            paths.sort();
            paths
        })
    }

    #[test]
    fn property_chains_are_read_paths() {
        assert_eq!(reads("vars.page.status == 200"), Some(vec!["page.status".into()]));
        assert_eq!(reads("vars.page?.body?.value"), Some(vec!["page.body.value".into()]));
        assert_eq!(
            reads("vars.page.body.value[0].subject + vars.b"),
            Some(vec!["b".into(), "page.body.value".into()])
        );
        assert_eq!(reads("vars.page.body.len()"), Some(vec!["page.body".into()]));
        assert_eq!(reads("vars.a.b.keys().len() + vars.a.b.len()"), Some(vec!["a.b".into()]));
        assert_eq!(reads("params.x + item.vars"), Some(vec![]));
        assert_eq!(reads("if vars.a > 1 { vars.b } else { vars.c.d }").map(|p| p.len()), Some(3));
        assert_eq!(reads("`${vars.x.y} and ${params.z}`"), Some(vec!["x.y".into()]));
        assert_eq!(reads("vars?.page"), Some(vec!["page".into()]));
        assert_eq!(reads("vars.a[1].b + vars.c?[\"d\"]"), Some(vec!["a".into(), "c".into()]));
    }

    #[test]
    fn any_other_use_of_vars_reads_everything() {
        for source in [
            "vars",
            "vars[\"page\"]",
            "vars.keys()",
            "type_of(vars)",
            "[1, 2].map(|x| x + vars.a)",
            "#{ all: vars }",
            "switch vars { 1 => 2, _ => 3 }",
            // Rhai stores both as an index whose chain starts at `vars`: counted as everything.
            "params.m[vars].b",
            "params.m[vars.x]",
        ] {
            assert_eq!(reads(source), None, "{source}");
        }
    }

    #[test]
    fn touches_paths_on_above_and_below() {
        let expr = ExprEngine::new().compile_expression("vars.page.status", &[]).unwrap();
        let path = |s: &str| s.split('.').map(ImmutableString::from).collect::<Vec<_>>();
        assert!(expr.reads().touches(&path("page")));
        assert!(expr.reads().touches(&path("page.status.x")));
        assert!(!expr.reads().touches(&path("page.body")));
        assert!(!expr.reads().touches(&path("other")));
        assert!(VarReads::all().touches(&path("page.body")));
    }
}
