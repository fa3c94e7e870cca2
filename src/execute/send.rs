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
    // The request moves into the client's future in this block: held in a local, its
    // 264 bytes would stay in this future's state while it waits for the answer.
    let sent = {
        let mut attempt = request.attempt()?;
        *attempt.body_mut() = Some(request.body.clone().into());
        if let Some(timeout) = embedder_timeout {
            *attempt.timeout_mut() = Some(timeout);
        }
        client.execute(attempt)
    };
    let mut response = sent
        .await
        .map_err(|error| classify::transport(error, false, &request.scrub))?;
    let status = response.status();
    let mut headers = std::mem::take(response.headers_mut());
    request.scrub.headers(&mut headers);
    if embedder_timeout.is_some() && *request.url != *response.url() {
        return Err(classify::followed_redirect(
            request,
            status,
            headers,
            response.url().as_str(),
        ));
    }
    // A success's body is the output: without all of it, the outcome is unknown. Any other
    // answer is classified by its status, its unreadable body only noted.
    let unread = |headers: HeaderMap, why: String| {
        if status.is_success() {
            Err(TaskError::new(ErrorKind::ResponseTooLarge, why)
                .with_response(classify::response_output(status, headers, Value::Null)))
        } else {
            Ok(Raw {
                status,
                headers,
                body: Vec::new(),
                unread: Some(why),
            })
        }
    };
    let too_large = || format!("its body is larger than {max_bytes} bytes and was not read");
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return unread(headers, too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_bytes {
                    return unread(headers, too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) if status.is_success() => {
                return Err(classify::transport(error, true, &request.scrub));
            }
            Err(error) => {
                let why = request.scrub.message(&format!(
                    "its body could not be read: {}",
                    classify::error_chain(&error)
                ));
                return unread(headers, why);
            }
        }
    }
    request.scrub.bytes(&mut body);
    Ok(Raw {
        status,
        headers,
        body,
        unread: None,
    })
}
