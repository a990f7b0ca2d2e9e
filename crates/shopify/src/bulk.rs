//! Bulk queries for initial loads: start one, poll it to completion, then read its JSONL file
//! as a stream. Each line is one object; an object of a nested connection carries
//! `__parentId`, the id of its parent, which comes earlier in the file.

use crate::documents::{BULK_OPERATION, BULK_RUN_QUERY};
use crate::{ShopifyClient, ShopifyError};
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::time::Duration;

/// One line of a bulk result.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRecord {
    /// The object's `id`, if it selected one.
    pub id: Option<String>,
    /// The parent object's id, for nodes of nested connections.
    pub parent_id: Option<String>,
    /// The object without `__parentId`.
    pub data: Value,
}

fn record(line: &[u8]) -> Result<BulkRecord, ShopifyError> {
    let mut data: Value = serde_json::from_slice(line)
        .map_err(|source| ShopifyError::Decode { operation: "BulkOperation", source })?;
    let parent_id = data
        .as_object_mut()
        .and_then(|o| o.remove("__parentId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    let id = data.get("id").and_then(Value::as_str).map(str::to_owned);
    Ok(BulkRecord { id, parent_id, data })
}

impl ShopifyClient {
    /// Run `query` as a bulk operation and stream its records once it has completed.
    pub async fn bulk_query(
        &self,
        query: &str,
        poll_every: Duration,
    ) -> Result<impl Stream<Item = Result<BulkRecord, ShopifyError>> + use<>, ShopifyError> {
        let payload = self
            .mutate(&BULK_RUN_QUERY, json!({ "query": query }), "bulkOperationRunQuery")
            .await?;
        let id = payload["bulkOperation"]["id"]
            .as_str()
            .ok_or_else(|| ShopifyError::GaveUp {
                operation: "BulkRunQuery",
                attempts: 1,
                last: "no bulk operation in the answer".into(),
            })?
            .to_owned();
        let url = loop {
            let r = self.execute(&BULK_OPERATION, json!({ "id": id })).await?;
            let op = &r.data["bulkOperation"];
            match op["status"].as_str() {
                Some("COMPLETED") => break op["url"].as_str().map(str::to_owned),
                Some("CREATED" | "RUNNING") => tokio::time::sleep(poll_every).await,
                other => {
                    return Err(ShopifyError::GaveUp {
                        operation: "BulkOperation",
                        attempts: 1,
                        last: format!("bulk operation {id} ended {other:?} ({})", op["errorCode"]),
                    });
                }
            }
        };
        // No url: the query matched nothing.
        let Some(url) = url else {
            return Ok(futures::stream::empty().left_stream());
        };
        let resp =
            self.http.get(&url).send().await.and_then(|r| r.error_for_status()).map_err(|e| {
                ShopifyError::GaveUp {
                    operation: "BulkOperation",
                    attempts: 1,
                    last: e.to_string(),
                }
            })?;
        // Split the body into lines as it arrives; never hold the whole file.
        let bytes = resp.bytes_stream().map_err(|e| ShopifyError::GaveUp {
            operation: "BulkOperation",
            attempts: 1,
            last: e.to_string(),
        });
        let lines = futures::stream::try_unfold(
            (bytes.boxed(), Vec::<u8>::new(), false),
            |(mut s, mut buf, mut ended)| async move {
                loop {
                    if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        return Ok(Some((line, (s, buf, ended))));
                    }
                    if ended {
                        if buf.iter().all(u8::is_ascii_whitespace) {
                            return Ok(None);
                        }
                        let line = std::mem::take(&mut buf);
                        return Ok(Some((line, (s, buf, true))));
                    }
                    match s.next().await {
                        Some(chunk) => buf.extend_from_slice(&chunk?),
                        None => ended = true,
                    }
                }
            },
        );
        Ok(lines
            .try_filter(|l| futures::future::ready(!l.iter().all(u8::is_ascii_whitespace)))
            .and_then(|l| futures::future::ready(record(&l)))
            .right_stream())
    }
}
