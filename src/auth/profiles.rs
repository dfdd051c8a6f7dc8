//! The profiles file, `weft.profiles/1`: wire types, and resolution of the profiles a flow uses
//! (`${env.NAME}` and `{ "file": path }` references) into typed [`Profile`]s.
//!
//! The file holds references, never secret values; secrets are resolved into [`Secret`]s, which
//! never print.

use super::assertion::{ClientCertificate, SignatureAlgorithm};
use super::hosts::HostPattern;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use weft_nodes::scrub::KnownSecrets;
use weft_nodes::{Secret, clip};

/// A profiles file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Weft authorization profiles (weft.profiles/1)")]
pub struct ProfilesFile {
    /// A JSON Schema reference for editors; ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// Always `weft.profiles/1`.
    pub format: ProfilesFormat,
    /// Profiles by name.
    pub profiles: IndexMap<String, ProfileWire>,
}

/// The `format` tag.
#[derive(Debug, Deserialize, JsonSchema)]
pub enum ProfilesFormat {
    /// Version 1.
    #[serde(rename = "weft.profiles/1")]
    V1,
}

/// A text field: inline (with `${env.NAME}` references) or read from a file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Text {
    /// Inline text; `${env.NAME}` is replaced by the environment variable.
    Inline(String),
    /// Text read from a file (relative to the profiles file), trailing newline removed.
    File(FileRef),
}

/// `{ "file": "path" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// The path, relative to the profiles file.
    pub file: String,
}

/// A profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProfileWire {
    /// OAuth 2.0.
    Oauth2(Box<OAuth2Wire>),
    /// A fixed bearer token.
    Bearer(BearerWire),
    /// HTTP Basic authentication.
    Basic(BasicWire),
    /// An API key in a header or the query.
    ApiKey(ApiKeyWire),
}

/// The OAuth 2.0 grant a profile signs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// An application signs in as itself.
    ClientCredentials,
    /// A user signs in in a browser (`weft login`), with PKCE.
    AuthorizationCode,
    /// A user signs in on another device (`weft login`).
    DeviceCode,
    /// A refresh token given in the profile.
    RefreshToken,
}

impl Grant {
    /// Whether a user signs in (so `weft login` is needed before runs).
    pub fn is_user(self) -> bool {
        matches!(self, Grant::AuthorizationCode | Grant::DeviceCode)
    }
}

/// How the client authenticates at the token endpoint with a secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// In the request body (`client_secret_post`), as Entra ID documents.
    #[default]
    Post,
    /// In an HTTP Basic header (`client_secret_basic`).
    Basic,
}

/// An `oauth2` profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Wire {
    /// The grant.
    pub grant: Grant,
    /// The token endpoint.
    pub token_url: Text,
    /// The authorization endpoint (authorization code).
    #[serde(default)]
    pub auth_url: Option<Text>,
    /// The device authorization endpoint (device code).
    #[serde(default)]
    pub device_url: Option<Text>,
    /// The application (client) id.
    pub client_id: Text,
    /// The client secret (confidential clients).
    #[serde(default)]
    pub client_secret: Option<Text>,
    /// A certificate to sign a client assertion with, instead of a secret.
    #[serde(default)]
    pub client_certificate: Option<CertificateWire>,
    /// How a secret is sent (default `post`).
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<Text>,
    /// The redirect URL registered for the app (authorization code; a loopback URL).
    #[serde(default)]
    pub redirect_url: Option<Text>,
    /// Use PKCE (S256) with the authorization code grant (default true).
    #[serde(default)]
    pub pkce: Option<bool>,
    /// Extra parameters for the token endpoint (e.g. `resource`).
    #[serde(default)]
    pub extra_params: IndexMap<String, Text>,
    /// The refresh token, for the `refresh_token` grant.
    #[serde(default)]
    pub refresh_token: Option<Text>,
    /// Requests in flight at once with this profile.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Requests in flight at once with this profile for one key (an `http_request`'s
    /// `concurrency_key`, such as a mailbox), across every run of the process.
    #[serde(default)]
    pub max_concurrent_per_key: Option<u32>,
    /// Hosts the credentials may be sent to.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
}

/// A client certificate for signed client assertions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateWire {
    /// The certificate, PEM.
    pub certificate: Text,
    /// Its RSA private key, PEM (PKCS#8 or PKCS#1).
    pub private_key: Text,
    /// The signature algorithm (default PS256).
    #[serde(default)]
    pub algorithm: Option<SignatureAlgorithm>,
}

/// A `bearer` profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerWire {
    /// The token.
    pub token: Text,
    /// Requests in flight at once with this profile.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Requests in flight at once with this profile for one key (an `http_request`'s
    /// `concurrency_key`, such as a mailbox), across every run of the process.
    #[serde(default)]
    pub max_concurrent_per_key: Option<u32>,
    /// Hosts the credentials may be sent to.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
}

/// A `basic` profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicWire {
    /// The user name.
    pub username: Text,
    /// The password.
    pub password: Text,
    /// Requests in flight at once with this profile.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Requests in flight at once with this profile for one key (an `http_request`'s
    /// `concurrency_key`, such as a mailbox), across every run of the process.
    #[serde(default)]
    pub max_concurrent_per_key: Option<u32>,
    /// Hosts the credentials may be sent to.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
}

/// An `api_key` profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyWire {
    /// The key.
    pub value: Text,
    /// The header that carries it.
    #[serde(default)]
    pub header: Option<String>,
    /// The query parameter that carries it.
    #[serde(default)]
    pub query: Option<String>,
    /// Requests in flight at once with this profile.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Requests in flight at once with this profile for one key (an `http_request`'s
    /// `concurrency_key`, such as a mailbox), across every run of the process.
    #[serde(default)]
    pub max_concurrent_per_key: Option<u32>,
    /// Hosts the credentials may be sent to.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
}

/// A resolved profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: ProfileKind,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
    /// Requests in flight at once for one concurrency key.
    pub max_concurrent_per_key: Option<u32>,
    /// Where its credentials may go (`None`: anywhere).
    pub hosts: Option<Vec<HostPattern>>,
}

/// The kinds of profile.
#[derive(Debug, Clone)]
pub enum ProfileKind {
    /// OAuth 2.0.
    OAuth2(Box<OAuth2Profile>),
    /// A fixed bearer token.
    Bearer(Secret),
    /// HTTP Basic.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An API key.
    ApiKey {
        /// The key.
        value: Secret,
        /// Where it goes.
        place: KeyPlace,
    },
}

/// Where an API key goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPlace {
    /// In this header.
    Header(String),
    /// In this query parameter.
    Query(String),
}

/// A resolved OAuth 2.0 profile.
#[derive(Debug, Clone)]
pub struct OAuth2Profile {
    /// The grant.
    pub grant: Grant,
    /// The token endpoint.
    pub token_url: String,
    /// The authorization endpoint.
    pub auth_url: Option<String>,
    /// The device authorization endpoint.
    pub device_url: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Option<Secret>,
    /// The client certificate.
    pub certificate: Option<ClientCertificate>,
    /// How the secret is sent.
    pub client_auth: ClientAuth,
    /// Scopes.
    pub scopes: Vec<String>,
    /// The redirect URL.
    pub redirect_url: Option<String>,
    /// Whether PKCE is used.
    pub pkce: bool,
    /// Extra token endpoint parameters.
    pub extra_params: Vec<(String, String)>,
    /// A refresh token given in the profile.
    pub refresh_token: Option<Secret>,
}

impl Profile {
    /// Whether a user must sign in with `weft login` first.
    pub fn is_user(&self) -> bool {
        matches!(&self.kind, ProfileKind::OAuth2(o) if o.grant.is_user())
    }

    /// The secrets of this profile, to scrub from anything that might echo them: with the
    /// client id or user name they go with, so that an echoed HTTP Basic value goes whole.
    pub fn known_secrets(&self) -> KnownSecrets {
        let mut known = KnownSecrets::new();
        match &self.kind {
            ProfileKind::OAuth2(o) => {
                if let Some(secret) = &o.client_secret {
                    known.add_client(&o.client_id, secret);
                }
                if let Some(token) = &o.refresh_token {
                    known.add(token);
                }
            }
            ProfileKind::Bearer(token) => {
                known.add(token);
            }
            ProfileKind::Basic { username, password } => {
                known.add_client(username, password);
            }
            ProfileKind::ApiKey { value, .. } => {
                known.add(value);
            }
        }
        known
    }
}

/// Why profiles could not be loaded or resolved. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The profiles file can't be read or parsed.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A flow names a profile the file lacks.
    #[error(
        "{file}: the flow uses profile `{}`, which this file does not define{hint}",
        clip(.profile)
    )]
    Unknown {
        /// The file.
        file: PathBuf,
        /// The profile.
        profile: String,
        /// The profiles that exist.
        hint: String,
    },
    /// A field could not be resolved.
    #[error("{file}: profile `{}`, field `{}`: {message}", clip(.profile), clip(.field))]
    Field {
        /// The file.
        file: PathBuf,
        /// The profile.
        profile: String,
        /// The field.
        field: String,
        /// What is wrong (names the variable or file).
        message: String,
    },
}

/// A loaded profiles file, its profiles still unresolved.
pub struct Profiles {
    file: PathBuf,
    wire: ProfilesFile,
}

impl Profiles {
    /// Reads and parses a profiles file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let bytes = std::fs::read(path).map_err(|e| ProfileError::File {
            file: path.to_owned(),
            message: format!("cannot read the profiles file: {e}"),
        })?;
        Self::parse(&bytes, path)
    }

    /// Parses a profiles file's text; `path` names it in messages and anchors `file` references.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, ProfileError> {
        let fail = |message: String| ProfileError::File { file: path.to_owned(), message };
        let value = crate::flow::json::parse(bytes).map_err(|e| {
            fail(match (e.line, e.column) {
                (Some(l), Some(c)) => format!("{} (line {l}, column {c})", e.message),
                _ => e.message,
            })
        })?;
        let wire: ProfilesFile = serde_path_to_error::deserialize(value).map_err(|e| {
            let at = weft_nodes::kind::serde_path_pointer(e.path());
            fail(format!("{at}: {}", e.into_inner()))
        })?;
        Ok(Self { file: path.to_owned(), wire })
    }

    /// The file it was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The names of its profiles.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.wire.profiles.keys().map(String::as_str)
    }

    /// The type of the profile `name` (`oauth2`, `bearer`, `basic`, `api_key`), if it has one
    /// of that name.
    pub fn type_of(&self, name: &str) -> Option<&'static str> {
        Some(match self.wire.profiles.get(name)? {
            ProfileWire::Oauth2(_) => "oauth2",
            ProfileWire::Bearer(_) => "bearer",
            ProfileWire::Basic(_) => "basic",
            ProfileWire::ApiKey(_) => "api_key",
        })
    }

    /// Its `oauth2` profiles, to be stood in for (see [`crate::simulated`]).
    pub(crate) fn oauth2_mut(&mut self) -> impl Iterator<Item = &mut OAuth2Wire> {
        self.wire.profiles.values_mut().filter_map(|p| match p {
            ProfileWire::Oauth2(w) => Some(&mut **w),
            _ => None,
        })
    }

    /// Names of profiles without `hosts` (`weft validate` warns about them).
    pub fn without_hosts(&self) -> Vec<&str> {
        self.wire
            .profiles
            .iter()
            .filter(|(_, p)| {
                match p {
                    ProfileWire::Oauth2(w) => &w.hosts,
                    ProfileWire::Bearer(w) => &w.hosts,
                    ProfileWire::Basic(w) => &w.hosts,
                    ProfileWire::ApiKey(w) => &w.hosts,
                }
                .is_none()
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Resolves the profile `name`, reading `env` through `lookup`.
    pub fn resolve(
        &self,
        name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Profile, ProfileError> {
        let Some(wire) = self.wire.profiles.get(name) else {
            let names: Vec<&str> = self.names().collect();
            let hint = if names.is_empty() {
                String::new()
            } else {
                format!(" (it has: {})", weft_nodes::clip::list(&names))
            };
            return Err(ProfileError::Unknown {
                file: self.file.clone(),
                profile: name.to_owned(),
                hint,
            });
        };
        let r = Resolver { file: &self.file, profile: name, lookup };
        let (kind, (max_concurrent, max_concurrent_per_key), hosts) = match wire {
            ProfileWire::Oauth2(w) => {
                (r.oauth2(w)?, (w.max_concurrent, w.max_concurrent_per_key), &w.hosts)
            }
            ProfileWire::Bearer(w) => (
                ProfileKind::Bearer(r.secret("token", &w.token)?),
                (w.max_concurrent, w.max_concurrent_per_key),
                &w.hosts,
            ),
            ProfileWire::Basic(w) => (
                ProfileKind::Basic {
                    username: r.text("username", &w.username)?,
                    password: r.secret("password", &w.password)?,
                },
                (w.max_concurrent, w.max_concurrent_per_key),
                &w.hosts,
            ),
            ProfileWire::ApiKey(w) => {
                let place = match (&w.header, &w.query) {
                    (Some(h), None) => KeyPlace::Header(r.expand("header", h)?),
                    (None, Some(q)) => KeyPlace::Query(r.expand("query", q)?),
                    _ => {
                        return Err(r.error(
                            "header",
                            "an api_key profile sets exactly one of `header` and `query`",
                        ));
                    }
                };
                (
                    ProfileKind::ApiKey { value: r.secret("value", &w.value)?, place },
                    (w.max_concurrent, w.max_concurrent_per_key),
                    &w.hosts,
                )
            }
        };
        if max_concurrent == Some(0) {
            return Err(r.error("max_concurrent", "must be at least 1"));
        }
        if max_concurrent_per_key == Some(0) {
            return Err(r.error("max_concurrent_per_key", "must be at least 1"));
        }
        let hosts = match hosts {
            Some(list) => Some(
                list.iter()
                    .map(|h| {
                        r.expand("hosts", h)
                            .and_then(|h| HostPattern::parse(&h).map_err(|m| r.error("hosts", &m)))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(Profile { name: name.to_owned(), kind, max_concurrent, max_concurrent_per_key, hosts })
    }
}

struct Resolver<'a> {
    file: &'a Path,
    profile: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Resolver<'_> {
    fn error(&self, field: &str, message: &str) -> ProfileError {
        ProfileError::Field {
            file: self.file.to_owned(),
            profile: self.profile.to_owned(),
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Replaces `${env.NAME}` references.
    fn expand(&self, field: &str, text: &str) -> Result<String, ProfileError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end =
                after.find('}').ok_or_else(|| self.error(field, "`${` without a closing `}`"))?;
            let reference = after[..end].trim();
            let Some(var) = reference.strip_prefix("env.") else {
                return Err(self.error(
                    field,
                    &format!(
                        "`${{{}}}`: profiles can only refer to `${{env.NAME}}`",
                        clip(reference)
                    ),
                ));
            };
            match (self.lookup)(var) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(self.error(
                        field,
                        &format!("environment variable `{}` is not set", clip(var)),
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn text(&self, field: &str, text: &Text) -> Result<String, ProfileError> {
        match text {
            Text::Inline(s) => self.expand(field, s),
            Text::File(f) => {
                let path = self.expand(field, &f.file)?;
                let full = self.file.parent().unwrap_or(Path::new(".")).join(&path);
                let content = std::fs::read_to_string(&full).map_err(|e| {
                    self.error(field, &format!("cannot read file `{}`: {e}", full.display()))
                })?;
                Ok(content.trim_end_matches(['\n', '\r']).to_owned())
            }
        }
    }

    fn secret(&self, field: &str, text: &Text) -> Result<Secret, ProfileError> {
        let value = self.text(field, text)?;
        if value.is_empty() {
            return Err(self.error(field, "is empty"));
        }
        Ok(Secret::new(value))
    }

    fn optional(&self, field: &str, text: &Option<Text>) -> Result<Option<String>, ProfileError> {
        text.as_ref().map(|t| self.text(field, t)).transpose()
    }

    fn oauth2(&self, w: &OAuth2Wire) -> Result<ProfileKind, ProfileError> {
        let require = |field: &str, value: Option<String>| {
            value.ok_or_else(|| {
                self.error(field, &format!("the {} grant needs `{field}`", grant_name(w.grant)))
            })
        };
        let auth_url = self.optional("auth_url", &w.auth_url)?;
        let device_url = self.optional("device_url", &w.device_url)?;
        let redirect_url = self.optional("redirect_url", &w.redirect_url)?;
        let refresh_token =
            w.refresh_token.as_ref().map(|t| self.secret("refresh_token", t)).transpose()?;
        match w.grant {
            Grant::AuthorizationCode => {
                require("auth_url", auth_url.clone())?;
                require("redirect_url", redirect_url.clone())?;
            }
            Grant::DeviceCode => {
                require("device_url", device_url.clone())?;
            }
            Grant::RefreshToken if refresh_token.is_none() => {
                return Err(
                    self.error("refresh_token", "the refresh_token grant needs `refresh_token`")
                );
            }
            _ => {}
        }
        let client_secret =
            w.client_secret.as_ref().map(|t| self.secret("client_secret", t)).transpose()?;
        let certificate = match &w.client_certificate {
            Some(c) => {
                let cert = self.text("client_certificate.certificate", &c.certificate)?;
                let key = self.text("client_certificate.private_key", &c.private_key)?;
                Some(
                    ClientCertificate::from_pem(&cert, &key, c.algorithm.unwrap_or_default())
                        .map_err(|m| self.error("client_certificate", &m))?,
                )
            }
            None => None,
        };
        if client_secret.is_some() && certificate.is_some() {
            return Err(self.error(
                "client_certificate",
                "set `client_secret` or `client_certificate`, not both",
            ));
        }
        if w.grant == Grant::ClientCredentials && client_secret.is_none() && certificate.is_none() {
            return Err(self.error(
                "client_secret",
                "the client_credentials grant needs `client_secret` or `client_certificate`",
            ));
        }
        let scopes =
            w.scopes.iter().map(|s| self.text("scopes", s)).collect::<Result<Vec<_>, _>>()?;
        let extra_params = w
            .extra_params
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.text(&format!("extra_params.{k}"), v)?)))
            .collect::<Result<Vec<_>, ProfileError>>()?;
        Ok(ProfileKind::OAuth2(Box::new(OAuth2Profile {
            grant: w.grant,
            token_url: self.text("token_url", &w.token_url)?,
            auth_url,
            device_url,
            client_id: self.text("client_id", &w.client_id)?,
            client_secret,
            certificate,
            client_auth: w.client_auth.unwrap_or_default(),
            scopes,
            redirect_url,
            pkce: w.pkce.unwrap_or(true),
            extra_params,
            refresh_token,
        })))
    }
}

fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::ClientCredentials => "client_credentials",
        Grant::AuthorizationCode => "authorization_code",
        Grant::DeviceCode => "device_code",
        Grant::RefreshToken => "refresh_token",
    }
}

/// The JSON Schema of `weft.profiles/1`.
pub fn schema() -> serde_json::Value {
    weft_nodes::kind::schema_of::<ProfilesFile>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (tempfile::TempDir, Profiles) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.json");
        std::fs::write(&path, text).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "from-file\n").unwrap();
        let profiles = Profiles::load(&path).unwrap();
        (dir, profiles)
    }

    #[test]
    fn resolves_env_and_files_and_names_what_is_missing() {
        let (_dir, profiles) = load(
            r#"{ "format": "weft.profiles/1", "profiles": {
                "app": { "type": "oauth2", "grant": "client_credentials",
                         "token_url": "https://login.example/${env.TENANT}/token",
                         "client_id": "${env.CLIENT}", "client_secret": { "file": "secret.txt" },
                         "scopes": ["https://graph.microsoft.com/.default"], "hosts": ["graph.microsoft.com"] },
                "missing": { "type": "bearer", "token": "${env.NOPE}" } } }"#,
        );
        let env = |name: &str| match name {
            "TENANT" => Some("t1".to_owned()),
            "CLIENT" => Some("c1".to_owned()),
            _ => None,
        };
        let app = profiles.resolve("app", &env).unwrap();
        let ProfileKind::OAuth2(o) = &app.kind else { panic!("oauth2") };
        assert_eq!(o.token_url, "https://login.example/t1/token");
        assert_eq!(o.client_secret.as_ref().unwrap().expose(), "from-file");
        assert!(!format!("{app:?}").contains("from-file"));
        let err = profiles.resolve("missing", &env).unwrap_err().to_string();
        assert!(
            err.contains(
                "profile `missing`, field `token`: environment variable `NOPE` is not set"
            ),
            "{err}"
        );
        let err = profiles.resolve("other", &env).unwrap_err().to_string();
        assert!(err.contains("uses profile `other`") && err.contains("app, missing"), "{err}");
        assert_eq!(profiles.without_hosts(), ["missing"]);
    }

    #[test]
    fn regression_duplicate_keys_and_a_byte_order_mark_in_profiles_are_named() {
        let parse_err = |bytes: &[u8]| match Profiles::parse(bytes, Path::new("p.json")) {
            Ok(_) => panic!("accepted"),
            Err(err) => err.to_string(),
        };
        // The second `a` used to replace the first, `hosts` and all.
        let text = "{ \"format\": \"weft.profiles/1\", \"profiles\": {\n  \"a\": { \"type\": \"bearer\", \"token\": \"t\", \"hosts\": [\"x.example\"] },\n  \"a\": { \"type\": \"bearer\", \"token\": \"t\" } } }";
        let err = parse_err(text.as_bytes());
        assert!(
            err.contains(
                "duplicate key `a` at /profiles/a: first at line 2, column 3, again at line 3, column 3"
            ),
            "{err}"
        );
        let err = parse_err(b"\xEF\xBB\xBF{ \"format\": \"weft.profiles/1\", \"profiles\": {} }");
        assert!(err.contains("the file starts with a UTF-8 byte order mark"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields_and_bad_grants() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{ "format": "weft.profiles/1", "profiles": { "x": { "type": "bearer", "token": "t", "tokn": 1 } } }"#).unwrap();
        assert!(Profiles::load(&path).is_err());
        std::fs::write(&path, r#"{ "format": "weft.profiles/1", "profiles": { "u": { "type": "oauth2", "grant": "authorization_code", "token_url": "t", "client_id": "c" } } }"#).unwrap();
        let err = Profiles::load(&path).unwrap().resolve("u", &|_| None).unwrap_err().to_string();
        assert!(err.contains("field `auth_url`"), "{err}");
    }
}
