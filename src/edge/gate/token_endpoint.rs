//! The edge's own Docker token endpoint (`/token`), for a deployment without an issuer: registry
//! clients follow the `Bearer realm=…` challenge there, present a chartgate token or a trusted
//! workload token (as the Basic password of a `GET`, or as the `password` of a `POST` form with
//! `grant_type=password`, as helm and oras send at `registry login`), and get that same token back
//! as the registry token: verified like any request, never changed, never extended, and nothing
//! signed. The rules are here; the glue only reads the body and sends the answer.

/// Largest form body read, in bytes.
pub const MAX_FORM: usize = 64 * 1024;

/// Why a token request is refused before any token is read (OAuth 2.0, RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    /// A grant other than `password`: this endpoint mints nothing. helm then retries with `GET`
    /// and Basic credentials.
    #[error("grant_type {0:?} is not supported here: this endpoint only returns the token presented as the password")]
    UnsupportedGrant(String),
    #[error("the form has no password: present the token as the password")]
    NoPassword,
    #[error("the form is not UTF-8 application/x-www-form-urlencoded")]
    Malformed,
}

impl TokenRequestError {
    /// The RFC 6749 §5.2 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenRequestError::UnsupportedGrant(_) => "unsupported_grant_type",
            TokenRequestError::NoPassword | TokenRequestError::Malformed => "invalid_request",
        }
    }
}

/// The `password` of a `POST` token request's form (`grant_type=password`, the RFC 6749 §4.3
/// form the Docker clients send).
///
/// # Errors
/// [`TokenRequestError`]: another grant type, no password, or a body that is not a form.
pub fn form_password(body: &[u8]) -> Result<String, TokenRequestError> {
    let text = std::str::from_utf8(body).map_err(|_| TokenRequestError::Malformed)?;
    let (mut grant, mut password) = (None, None);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.replace('+', " ");
        let v = percent_encoding::percent_decode_str(&v).decode_utf8().map_err(|_| TokenRequestError::Malformed)?;
        match k {
            "grant_type" => grant = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    match grant.as_deref() {
        Some("password") | None => password.filter(|p| !p.is_empty()).ok_or(TokenRequestError::NoPassword),
        Some(other) => Err(TokenRequestError::UnsupportedGrant(other.chars().take(40).collect())),
    }
}

/// The answer to an allowed token request: the presented token as both `token` and
/// `access_token` (clients read either), and its remaining life in `expires_in` seconds.
pub fn token_response(token: &str, exp: Option<u64>, now: u64) -> String {
    let expires_in = exp.map_or(60, |exp| exp.saturating_sub(now).max(1));
    serde_json::json!({"token": token, "access_token": token, "expires_in": expires_in}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_password_of_the_forms_clients_send() {
        let helm4 = b"client_id=oras-go&grant_type=password&username=oidc&password=a.b-c_d&service=chartgate";
        assert_eq!(form_password(helm4).unwrap(), "a.b-c_d");
        let helm3 = b"client_id=containerd-client&grant_type=password&scope=repository%3Aa%2Fb%3Apull&password=x%2By+z";
        assert_eq!(form_password(helm3).unwrap(), "x+y z");
        assert_eq!(form_password(b"password=t").unwrap(), "t");
        assert_eq!(
            form_password(b"grant_type=refresh_token&refresh_token=x").unwrap_err().code(),
            "unsupported_grant_type"
        );
        assert_eq!(form_password(b"grant_type=password&username=u").unwrap_err(), TokenRequestError::NoPassword);
        assert_eq!(form_password(b"grant_type=password&password=").unwrap_err(), TokenRequestError::NoPassword);
        assert_eq!(form_password(b"password=%ff").unwrap_err(), TokenRequestError::Malformed);
        assert_eq!(form_password(&[0xff]).unwrap_err(), TokenRequestError::Malformed);
    }

    #[test]
    fn answers_with_the_same_token_and_its_remaining_life() {
        let v: serde_json::Value = serde_json::from_str(&token_response("t.o.k", Some(1300), 1000)).unwrap();
        assert_eq!(
            (v["token"].as_str(), v["access_token"].as_str(), v["expires_in"].as_u64()),
            (Some("t.o.k"), Some("t.o.k"), Some(300))
        );
        let v: serde_json::Value = serde_json::from_str(&token_response("t", Some(900), 1000)).unwrap();
        assert_eq!(v["expires_in"], 1, "never a lifetime the token does not have");
    }
}
