//! The OAuth 2.0 grants, through the `oauth2` crate, over the process's reqwest (redirects off:
//! a token endpoint that redirects is not followed, so it can't bounce a secret elsewhere).

use super::assertion::ASSERTION_TYPE;
use super::profiles::{ClientAuth, OAuth2Profile};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, DeviceAuthorizationUrl,
    HttpRequest, HttpResponse, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use weft_nodes::scrub::KnownSecrets;
use weft_nodes::{NodeError, Secret};

/// What a token endpoint granted.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// Its type (`Bearer`).
    pub token_type: String,
    /// Its lifetime, when the server says.
    pub expires_in: Option<Duration>,
    /// The scopes granted (those requested when the server doesn't say).
    pub scopes: Vec<String>,
    /// A (new) refresh token.
    pub refresh_token: Option<Secret>,
}

/// The largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// Builds the HTTP client for token endpoints.
pub fn token_http_client() -> Result<reqwest::Client, String> {
    crate::http::ensure_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A transport failure (the server never answered).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transport(String);

/// Talks to one profile's token endpoint.
pub struct Grants<'a> {
    profile: &'a OAuth2Profile,
    name: &'a str,
    http: &'a reqwest::Client,
    /// The secrets a message must not show: the profile's, and those of the exchange under way
    /// (a refresh token, an authorization code, a client assertion).
    known: Mutex<KnownSecrets>,
    /// When set, token requests go here instead of `http` (the test harness's canned HTTP).
    via: Option<Arc<dyn weft_nodes::services::Http>>,
}

type Client = oauth2::Client<
    BasicErrorResponse,
    BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl<'a> Grants<'a> {
    /// Grants for `profile` (named `name`), over `http`; `known` are the secrets to scrub from
    /// every message (a token endpoint may echo what it was sent).
    pub fn new(
        name: &'a str,
        profile: &'a OAuth2Profile,
        http: &'a reqwest::Client,
        known: KnownSecrets,
    ) -> Self {
        Self { profile, name, http, known: Mutex::new(known), via: None }
    }

    /// Sends the token requests through `via` (a node-services HTTP client, such as the test
    /// harness's canned HTTP) instead of reqwest, when given.
    pub fn through(mut self, via: Option<Arc<dyn weft_nodes::services::Http>>) -> Self {
        self.via = via;
        self
    }

    fn auth_error(&self, message: impl AsRef<str>) -> NodeError {
        NodeError::new("auth", self.scrub(message.as_ref()))
    }

    /// Removes every secret known to this exchange from a message, in any encoding (a server
    /// may echo what it was sent).
    fn scrub(&self, message: &str) -> String {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.scrubber().scrub(message).into_owned()
    }

    /// Adds a secret of the exchange under way to what messages are scrubbed of.
    fn remember(&self, secret: &str) {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).add(&Secret::new(secret));
    }

    fn client(&self) -> Result<Client, NodeError> {
        let p = self.profile;
        let token_url = TokenUrl::new(p.token_url.clone()).map_err(|e| {
            self.auth_error(format!("profile `{}`: token_url is not a URL ({e})", self.name))
        })?;
        let mut client =
            BasicClient::new(ClientId::new(p.client_id.clone())).set_token_uri(token_url);
        if let Some(secret) = &p.client_secret {
            client = client
                .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
                .set_auth_type(match p.client_auth {
                    ClientAuth::Post => AuthType::RequestBody,
                    ClientAuth::Basic => AuthType::BasicAuth,
                });
        } else {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        Ok(client)
    }

    /// The HTTP function the `oauth2` crate calls; remembers the last status for messages.
    fn transport(
        &self,
        last: Arc<Mutex<Option<(u16, String)>>>,
    ) -> impl Fn(
        HttpRequest,
    )
        -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, Transport>> + Send>>
    + use<> {
        let http = self.http.clone();
        let via = self.via.clone();
        move |request: HttpRequest| {
            let http = http.clone();
            let last = last.clone();
            let via = via.clone();
            Box::pin(async move {
                if let Some(via) = via {
                    return send_via(&*via, request, &last).await;
                }
                let (parts, body) = request.into_parts();
                let mut response = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| Transport(describe_transport(&e)))?;
                let status = response.status();
                let content_type = response
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no content type")
                    .to_owned();
                if let Ok(mut last) = last.lock() {
                    *last = Some((status.as_u16(), content_type));
                }
                let mut builder = http::Response::builder().status(status);
                if let Some(headers) = builder.headers_mut() {
                    *headers = response.headers().clone();
                }
                let mut body = Vec::new();
                while let Some(chunk) =
                    response.chunk().await.map_err(|e| Transport(describe_transport(&e)))?
                {
                    if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                        return Err(Transport(
                            "the token endpoint's answer is larger than 1 MiB".into(),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                builder.body(body).map_err(|e| Transport(e.to_string()))
            })
        }
    }

    fn extra_params(&self) -> Result<Vec<(String, String)>, NodeError> {
        let mut params = self.profile.extra_params.clone();
        if let Some(cert) = &self.profile.certificate {
            let assertion = cert
                .assertion(&self.profile.client_id, &self.profile.token_url)
                .map_err(|e| self.auth_error(format!("profile `{}`: {e}", self.name)))?;
            self.remember(&assertion);
            params.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
            params.push(("client_assertion".into(), assertion));
        }
        Ok(params)
    }

    fn scopes(&self) -> Vec<Scope> {
        self.profile.scopes.iter().cloned().map(Scope::new).collect()
    }

    /// The client credentials grant.
    pub async fn client_credentials(&self) -> Result<TokenSet, NodeError> {
        let client = self.client()?;
        let last = Arc::default();
        let http = self.transport(Arc::clone(&last));
        let mut request = client.exchange_client_credentials().add_scopes(self.scopes());
        for (k, v) in self.extra_params()? {
            request = request.add_extra_param(k, v);
        }
        let result = request.request_async(&http).await;
        self.finish(result, &last)
    }

    /// The refresh token grant.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, NodeError> {
        let client = self.client()?;
        let last = Arc::default();
        let http = self.transport(Arc::clone(&last));
        self.remember(refresh_token.expose());
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let mut request = client.exchange_refresh_token(&token).add_scopes(self.scopes());
        for (k, v) in self.extra_params()? {
            request = request.add_extra_param(k, v);
        }
        let result = request.request_async(&http).await;
        self.finish(result, &last)
    }

    /// Redeems an authorization code (with its PKCE verifier).
    pub async fn redeem_code(
        &self,
        code: Secret,
        verifier: Option<PkceCodeVerifier>,
        redirect: &str,
    ) -> Result<TokenSet, NodeError> {
        let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|e| {
            self.auth_error(format!("profile `{}`: redirect_url is not a URL ({e})", self.name))
        })?;
        let client = self.client()?.set_redirect_uri(redirect);
        self.remember(code.expose());
        if let Some(verifier) = &verifier {
            self.remember(verifier.secret());
        }
        let last = Arc::default();
        let http = self.transport(Arc::clone(&last));
        let mut request = client.exchange_code(AuthorizationCode::new(code.expose().to_owned()));
        if let Some(verifier) = verifier {
            request = request.set_pkce_verifier(verifier);
        }
        for (k, v) in self.extra_params()? {
            request = request.add_extra_param(k, v);
        }
        let result = request.request_async(&http).await;
        self.finish(result, &last)
    }

    /// The authorization URL a user opens, with its CSRF state and PKCE verifier.
    pub fn authorize_url(&self) -> Result<(String, String, Option<PkceCodeVerifier>), NodeError> {
        let p = self.profile;
        let auth_url = p.auth_url.clone().unwrap_or_default();
        let auth_url = AuthUrl::new(auth_url).map_err(|e| {
            self.auth_error(format!("profile `{}`: auth_url is not a URL ({e})", self.name))
        })?;
        let redirect =
            RedirectUrl::new(p.redirect_url.clone().unwrap_or_default()).map_err(|e| {
                self.auth_error(format!("profile `{}`: redirect_url is not a URL ({e})", self.name))
            })?;
        let client = self.client()?.set_auth_uri(auth_url).set_redirect_uri(redirect);
        let mut request =
            client.authorize_url(oauth2::CsrfToken::new_random).add_scopes(self.scopes());
        let verifier = if p.pkce {
            let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            Some(verifier)
        } else {
            None
        };
        let (url, state) = request.url();
        Ok((url.to_string(), state.secret().clone(), verifier))
    }

    /// The device code grant: asks for a code, shows it through `show`, then polls.
    pub async fn device_code(&self, show: impl FnOnce(&str, &str)) -> Result<TokenSet, NodeError> {
        let p = self.profile;
        let device_url = DeviceAuthorizationUrl::new(p.device_url.clone().unwrap_or_default())
            .map_err(|e| {
                self.auth_error(format!("profile `{}`: device_url is not a URL ({e})", self.name))
            })?;
        let client = self.client()?.set_device_authorization_url(device_url);
        let last = Arc::default();
        let http = self.transport(Arc::clone(&last));
        let details: oauth2::StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request_async(&http)
            .await
            .map_err(|e| self.request_error(e, &last))?;
        self.remember(details.device_code().secret());
        show(details.verification_uri().as_str(), details.user_code().secret());
        let result = client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, None)
            .await;
        self.finish(result, &last)
    }

    fn finish<RE: oauth2::ErrorResponse + OAuthError + 'static>(
        &self,
        result: Result<BasicTokenResponse, RequestTokenError<Transport, RE>>,
        last: &Mutex<Option<(u16, String)>>,
    ) -> Result<TokenSet, NodeError> {
        let response = result.map_err(|e| self.request_error(e, last))?;
        let scopes = match response.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.to_string()).collect(),
            None => self.profile.scopes.clone(),
        };
        Ok(TokenSet {
            access_token: Secret::new(response.access_token().secret().as_str()),
            token_type: "Bearer".into(),
            expires_in: response.expires_in(),
            scopes,
            refresh_token: response.refresh_token().map(|t| Secret::new(t.secret().as_str())),
        })
    }

    fn request_error<RE>(
        &self,
        err: RequestTokenError<Transport, RE>,
        last: &Mutex<Option<(u16, String)>>,
    ) -> NodeError
    where
        RE: oauth2::ErrorResponse + OAuthError + 'static,
    {
        let status = last.lock().ok().and_then(|l| l.clone());
        let mut node_error = match err {
            RequestTokenError::ServerResponse(body) => {
                let (code, description) = body.parts();
                // Entra appends trace and correlation ids on further lines: keep the first.
                let description =
                    description.as_deref().and_then(|d| d.lines().next()).unwrap_or("");
                let message = if description.is_empty() {
                    format!("profile `{}`: the token endpoint refused: {code}", self.name)
                } else {
                    format!(
                        "profile `{}`: the token endpoint refused: {code}: {description}",
                        self.name
                    )
                };
                self.auth_error(message).with_code(self.scrub(&code))
            }
            RequestTokenError::Request(transport) => {
                let category = if transport.0.contains("timed out") { "timeout" } else { "auth" };
                NodeError::new(
                    category,
                    self.scrub(&format!(
                        "profile `{}`: cannot get a token: {}",
                        self.name, transport.0
                    )),
                )
            }
            RequestTokenError::Parse(_, _) => {
                let (status, content_type) = status.clone().unwrap_or((0, "unknown".into()));
                self.auth_error(format!(
                    "profile `{}`: the token endpoint answered HTTP {status} ({content_type}), not an OAuth token response",
                    self.name
                ))
            }
            RequestTokenError::Other(other) => {
                self.auth_error(format!("profile `{}`: token request failed: {other}", self.name))
            }
        };
        if let Some((status, _)) = status {
            node_error = node_error.with_status(status);
        }
        node_error
    }
}

/// Sends a token request through a node-services HTTP client (`Authorization` kept secret).
async fn send_via(
    via: &dyn weft_nodes::services::Http,
    request: HttpRequest,
    last: &Mutex<Option<(u16, String)>>,
) -> Result<HttpResponse, Transport> {
    let (parts, body) = request.into_parts();
    let method = match parts.method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => return Err(Transport(format!("unsupported method {}", parts.method))),
    };
    let mut headers = Vec::new();
    let mut secret_headers = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if *name == http::header::AUTHORIZATION {
            secret_headers.push((name.as_str().to_owned(), Secret::new(value)));
        } else {
            headers.push((name.as_str().to_owned(), value));
        }
    }
    let sent = weft_nodes::services::HttpRequest {
        method,
        url: parts.uri.to_string(),
        headers,
        secret_headers,
        secret_query: Vec::new(),
        body: Some(body),
        timeout: Duration::from_secs(30),
        max_response_bytes: MAX_TOKEN_RESPONSE as u64,
    };
    let response = via.send(sent).await.map_err(|e| Transport(e.to_string()))?;
    let content_type = response.header("content-type").unwrap_or("no content type").to_owned();
    if let Ok(mut last) = last.lock() {
        *last = Some((response.status, content_type));
    }
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(response.body).map_err(|e| Transport(e.to_string()))
}

/// An OAuth error body as code and description.
pub trait OAuthError {
    /// `(error, error_description)`.
    fn parts(&self) -> (String, Option<String>);
}

impl<T: oauth2::ErrorResponseType + AsRef<str>> OAuthError for oauth2::StandardErrorResponse<T> {
    fn parts(&self) -> (String, Option<String>) {
        (self.error().as_ref().to_owned(), self.error_description().cloned())
    }
}

/// A transport error, with its causes, without the request's content.
fn describe_transport(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    crate::http::with_causes(what, err)
}
