//! Product images as Shopify 2026-10 handles them: `stagedUploadsCreate` hands out an upload
//! target (the simulator's own `/sim/uploads/...` URL), the client PUTs or POSTs the bytes there,
//! then attaches the `resourceUrl` (or any external URL) with `productUpdate(media:)` or
//! `productCreate(media:)`. Media is processed asynchronously: UPLOADED, PROCESSING, then READY,
//! or FAILED with a media error when the source cannot be fetched (a staged target nobody
//! uploaded to, or a URL that is not an image: the simulator never reaches the internet, so an
//! external URL counts as an image when its path ends in an image extension).

use crate::store::{Media, Shop, StagedUpload};
use serde_json::{Value, json};

/// Shopify's limits: 250 media per product, 20 MB per image.
pub const MAX_PER_PRODUCT: usize = 250;
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// Simulated seconds until processing starts, and until it ends.
const PROCESSING_AFTER: f64 = 0.5;
const READY_AFTER: f64 = 2.0;

const RESOURCES: [&str; 6] =
    ["IMAGE", "PRODUCT_IMAGE", "FILE", "BULK_MUTATION_VARIABLES", "VIDEO", "COLLECTION_IMAGE"];

fn user_error(field: Value, message: impl Into<String>) -> Value {
    json!({ "field": field, "message": message.into() })
}

/// `stagedUploadsCreate(input:)`: one target per input, or user errors and no targets.
pub fn staged_uploads_create(
    shop: &mut Shop,
    input: &Value,
    base_url: &str,
) -> Result<Vec<Value>, Vec<Value>> {
    let inputs = input.as_array().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    for (i, s) in inputs.iter().enumerate() {
        let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").trim().to_owned();
        let resource = text("resource");
        if text("filename").is_empty() {
            errors.push(user_error(
                json!(["input", i.to_string(), "filename"]),
                "Filename can't be blank",
            ));
        }
        let mime = text("mimeType");
        if mime.is_empty() {
            errors.push(user_error(
                json!(["input", i.to_string(), "mimeType"]),
                "Mime type can't be blank",
            ));
        } else if matches!(resource.as_str(), "IMAGE" | "PRODUCT_IMAGE" | "COLLECTION_IMAGE")
            && !mime.starts_with("image/")
        {
            errors.push(user_error(
                json!(["input", i.to_string(), "mimeType"]),
                format!("Mime type {mime} is not supported for {resource}"),
            ));
        }
        if !RESOURCES.contains(&resource.as_str()) {
            errors.push(user_error(
                json!(["input", i.to_string(), "resource"]),
                format!("Resource {resource} is not supported by shopify-sim"),
            ));
        }
        let size = s.get("fileSize").and_then(|v| match v {
            Value::String(x) => x.parse::<u64>().ok(),
            other => other.as_u64(),
        });
        if resource.ends_with("IMAGE") && size.is_some_and(|b| b > MAX_IMAGE_BYTES) {
            errors.push(user_error(
                json!(["input", i.to_string(), "fileSize"]),
                "File size must be at most 20 MB for images",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut targets = Vec::new();
    for s in &inputs {
        let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").trim().to_owned();
        let filename = text("filename");
        let mime = text("mimeType");
        // The key ends in the file name, so the image keeps its name and extension.
        let safe: String = filename
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        let key = format!("{:x}{:08x}-{safe}", shop.next_id(), rand::random::<u32>());
        let url = format!("{base_url}/sim/uploads/{}/{key}", shop.name);
        let parameters = if text("httpMethod") == "POST" {
            vec![
                json!({ "name": "Content-Type", "value": mime }),
                json!({ "name": "success_action_status", "value": "201" }),
                json!({ "name": "acl", "value": "private" }),
                json!({ "name": "key", "value": format!("tmp/{key}/{filename}") }),
            ]
        } else {
            vec![
                json!({ "name": "content_type", "value": mime }),
                json!({ "name": "acl", "value": "private" }),
            ]
        };
        shop.staged_uploads.insert(
            key,
            StagedUpload { resource: text("resource"), filename, mime_type: mime, bytes: None },
        );
        targets.push(json!({ "url": url, "resourceUrl": url, "parameters": parameters }));
    }
    Ok(targets)
}

/// Validate `media: [CreateMediaInput!]` for a product: user errors, or nothing.
pub fn check(shop: &Shop, product: Option<u64>, media: &Value, arg: &str) -> Vec<Value> {
    let Some(list) = media.as_array() else { return Vec::new() };
    let mut errors = Vec::new();
    let existing = product.and_then(|p| shop.products.get(&p)).map_or(0, |p| p.media.len());
    if existing + list.len() > MAX_PER_PRODUCT {
        errors.push(user_error(
            json!([arg]),
            format!("A product can have at most {MAX_PER_PRODUCT} media"),
        ));
    }
    for (i, m) in list.iter().enumerate() {
        let kind = m.get("mediaContentType").and_then(Value::as_str).unwrap_or("");
        if kind != "IMAGE" {
            errors.push(user_error(
                json!([arg, i.to_string(), "mediaContentType"]),
                format!("Media type {kind} is not supported by shopify-sim (only IMAGE)"),
            ));
        }
        let source = m.get("originalSource").and_then(Value::as_str).unwrap_or("").trim();
        if !(source.starts_with("https://") || source.starts_with("http://")) {
            errors.push(user_error(
                json!([arg, i.to_string(), "originalSource"]),
                "Image URL is invalid",
            ));
        }
    }
    errors
}

/// Attach checked media to a product; each starts UPLOADED at simulated second `now`.
pub fn attach(shop: &mut Shop, product: u64, media: &Value, now: f64) -> Vec<u64> {
    let Some(list) = media.as_array() else { return Vec::new() };
    let mut ids = Vec::new();
    for m in list {
        let source =
            m.get("originalSource").and_then(Value::as_str).unwrap_or("").trim().to_owned();
        let alt = m.get("alt").and_then(Value::as_str).unwrap_or("").to_owned();
        let error = fetch_error(shop, &source);
        let id = shop.next_id();
        let at = shop.stamp();
        if let Some(p) = shop.products.get_mut(&product) {
            p.media.push(Media {
                id,
                alt,
                source,
                created_at: at,
                processing_at: now + PROCESSING_AFTER,
                ready_at: now + READY_AFTER,
                error,
            });
            p.updated_at = at;
            ids.push(id);
        }
    }
    ids
}

/// Why fetching `source` fails, if it does.
fn fetch_error(shop: &Shop, source: &str) -> Option<(String, String)> {
    if let Some(rest) = source.split_once("/sim/uploads/").map(|(_, r)| r) {
        return match rest
            .split_once('/')
            .and_then(|(s, k)| (s == shop.name).then(|| shop.staged_uploads.get(k)))
        {
            Some(Some(u)) if u.bytes.is_some_and(|b| b > 0) => None,
            Some(Some(_)) => Some((
                "IMAGE_DOWNLOAD_FAILURE".into(),
                "Image could not be downloaded: nothing was uploaded to the staged target".into(),
            )),
            _ => Some(("INVALID_SIGNED_URL".into(), "The staged upload URL is not valid".into())),
        };
    }
    let path = source.split(['?', '#']).next().unwrap_or("").to_ascii_lowercase();
    let image = [".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic"]
        .iter()
        .any(|ext| path.ends_with(ext));
    (!image).then(|| {
        ("UNSUPPORTED_IMAGE_FILE_TYPE".into(), format!("{source} is not a supported image file"))
    })
}

/// Bytes arriving at a staged target (PUT, or POST as a form): Err is the HTTP reason.
pub fn receive(shop: &mut Shop, key: &str, bytes: u64) -> Result<(), (u16, String)> {
    let Some(u) = shop.staged_uploads.get_mut(key) else {
        return Err((404, "no such staged upload target".into()));
    };
    if bytes == 0 {
        return Err((400, "empty upload".into()));
    }
    if u.resource.ends_with("IMAGE") && bytes > MAX_IMAGE_BYTES {
        return Err((413, "images are limited to 20 MB".into()));
    }
    u.bytes = Some(bytes);
    Ok(())
}

/// Validate `productSet(input: {files})`: entries name an existing media `id` of the product or
/// an image `originalSource`.
pub fn check_files(shop: &Shop, product: Option<u64>, files: &Value) -> Vec<Value> {
    let Some(list) = files.as_array() else { return Vec::new() };
    let mut errors = Vec::new();
    if list.len() > MAX_PER_PRODUCT {
        errors.push(user_error(
            json!(["input", "files"]),
            format!("A product can have at most {MAX_PER_PRODUCT} media"),
        ));
    }
    let media = product.and_then(|p| shop.products.get(&p)).map(|p| &p.media);
    for (i, f) in list.iter().enumerate() {
        let field = |k: &str| json!(["input", "files", i.to_string(), k]);
        if let Some(id) = f.get("id").and_then(Value::as_str) {
            let known = crate::store::parse_gid("MediaImage", id)
                .is_some_and(|id| media.is_some_and(|m| m.iter().any(|m| m.id == id)));
            if !known {
                errors.push(user_error(field("id"), "File does not exist on this product"));
            }
            continue;
        }
        if f.get("contentType").and_then(Value::as_str).is_some_and(|c| c != "IMAGE") {
            errors.push(user_error(field("contentType"), "Only IMAGE files are simulated"));
        }
        let source = f.get("originalSource").and_then(Value::as_str).unwrap_or("").trim();
        if !(source.starts_with("https://") || source.starts_with("http://")) {
            errors.push(user_error(field("originalSource"), "Image URL is invalid"));
        }
    }
    errors
}

/// `productSet` list-replace semantics for `files`: media not named are removed, new sources are
/// attached (processed asynchronously), named ones keep their place and get a new alt if given.
pub fn set_files(shop: &mut Shop, product: u64, files: &Value, now: f64) {
    let Some(list) = files.as_array() else { return };
    let keep: Vec<(u64, Option<String>)> = list
        .iter()
        .filter_map(|f| {
            let id = crate::store::parse_gid("MediaImage", f.get("id")?.as_str()?)?;
            Some((id, f.get("alt").and_then(Value::as_str).map(str::to_owned)))
        })
        .collect();
    if let Some(p) = shop.products.get_mut(&product) {
        p.media.retain(|m| keep.iter().any(|(id, _)| *id == m.id));
        for m in &mut p.media {
            if let Some((_, Some(alt))) = keep.iter().find(|(id, _)| *id == m.id) {
                m.alt = alt.clone();
            }
        }
    }
    let new: Vec<Value> = list
        .iter()
        .filter(|f| f.get("id").is_none())
        .map(|f| {
            json!({
                "originalSource": f.get("originalSource").cloned().unwrap_or(Value::Null),
                "alt": f.get("alt").cloned().unwrap_or(Value::Null),
                "mediaContentType": "IMAGE",
            })
        })
        .collect();
    attach(shop, product, &Value::Array(new), now);
}
