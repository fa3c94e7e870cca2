//! One attempt on the wire: the request sent, and its response read within the size limit.

use super::classify;
use super::wire::{Outgoing, Raw};
use crate::error::{ErrorKind, TaskError};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// Sends one attempt and reads the whole response, refusing a body over `max_bytes` (by its
/// declared length before reading, or as soon as the chunks read pass it). `embedder_timeout`
/// is set when the client is the embedder's: its per-attempt timeout, and a sign that the
/// client may follow redirects.
pub(super) async fn once(
    client: &reqwest::Client,
    request: &Outgoing<'_>,
    embedder_timeout: Option<Duration>,
    max_bytes: usize,
) -> Result<Raw, TaskError> {
    let url = &request.prepared.request.url;
    let mut builder = client
        .request(request.method.clone(), url)
        .headers(request.headers.clone())
        .body(request.body.clone());
    if let Some(timeout) = embedder_timeout {
        builder = builder.timeout(timeout);
    }
    let mut response = builder
        .send()
        .await
        .map_err(|error| classify::transport(error, false))?;
    let status = response.status();
    let mut headers = std::mem::take(response.headers_mut());
    request.scrub.headers(&mut headers);
    if embedder_timeout.is_some() && reqwest::Url::parse(url).ok().as_ref() != Some(response.url())
    {
        return Err(classify::followed_redirect(
            request.endpoint,
            status,
            &headers,
            response.url().as_str(),
        ));
    }
    let too_large = |headers: &HeaderMap| {
        TaskError::new(
            ErrorKind::ResponseTooLarge,
            format!("the {status} response body is larger than {max_bytes} bytes; it was not read"),
        )
        .with_response(classify::response_output(status, headers, Value::Null))
    };
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(too_large(&headers));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large(&headers));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => return Err(classify::transport(error, true)),
        }
    }
    request.scrub.bytes(&mut body);
    Ok(Raw {
        status,
        headers,
        body,
    })
}
