//! Webhook verification: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body
//! with the app's client secret, checked in constant time before the body is parsed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookMeta {
    /// e.g. `orders/updated`.
    pub topic: String,
    pub shop_domain: String,
    /// Unique per delivery, the same on its retries: the de-duplication key.
    pub webhook_id: String,
    /// The underlying event; two deliveries with the same one are duplicates.
    pub event_id: Option<String>,
    pub triggered_at: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("the HMAC signature does not match the body")]
    BadSignature,
}

fn header(h: &HeaderMap, name: &'static str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Verify a delivery and read its metadata.
pub fn verify(
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<WebhookMeta, WebhookError> {
    let sig = header(headers, "x-shopify-hmac-sha256")
        .ok_or(WebhookError::MissingHeader("X-Shopify-Hmac-Sha256"))?;
    let sig = STANDARD.decode(sig.trim()).map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sig).map_err(|_| WebhookError::BadSignature)?;
    Ok(WebhookMeta {
        topic: header(headers, "x-shopify-topic")
            .ok_or(WebhookError::MissingHeader("X-Shopify-Topic"))?,
        shop_domain: header(headers, "x-shopify-shop-domain")
            .ok_or(WebhookError::MissingHeader("X-Shopify-Shop-Domain"))?,
        webhook_id: header(headers, "x-shopify-webhook-id")
            .ok_or(WebhookError::MissingHeader("X-Shopify-Webhook-Id"))?,
        event_id: header(headers, "x-shopify-event-id"),
        triggered_at: header(headers, "x-shopify-triggered-at"),
        api_version: header(headers, "x-shopify-api-version"),
    })
}

/// The signature Shopify would send for `body` (for tests and the simulator's deliveries).
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-shopify-hmac-sha256", HeaderValue::from_str(sig).unwrap());
        h.insert("x-shopify-topic", HeaderValue::from_static("orders/updated"));
        h.insert("x-shopify-shop-domain", HeaderValue::from_static("demo.myshopify.com"));
        h.insert(
            "x-shopify-webhook-id",
            HeaderValue::from_static("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        );
        h
    }

    #[test]
    fn accepts_a_good_signature_and_rejects_a_bad_one() {
        let secret = SecretString::from("hush".to_owned());
        let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
        let good = sign(&secret, body);
        let meta = verify(&secret, &headers(&good), body).unwrap();
        assert_eq!(meta.topic, "orders/updated");
        assert_eq!(meta.webhook_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        // Same signature, body changed by one byte.
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(verify(&secret, &headers(&good), &tampered), Err(WebhookError::BadSignature));
        // Signed with another secret.
        let other = sign(&SecretString::from("other".to_owned()), body);
        assert_eq!(verify(&secret, &headers(&other), body), Err(WebhookError::BadSignature));
        assert_eq!(verify(&secret, &headers("not base64!"), body), Err(WebhookError::BadSignature));
        let mut missing = headers(&good);
        missing.remove("x-shopify-hmac-sha256");
        assert_eq!(
            verify(&secret, &missing, body),
            Err(WebhookError::MissingHeader("X-Shopify-Hmac-Sha256"))
        );
    }
}
