//! One attempt on the wire: the request sent, and its response read within the size limit.

use super::classify;
use super::wire::{Outgoing, Raw};
use crate::error::{ErrorKind, TaskError};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Either;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

/// Sends one attempt and reads the whole response, refusing a body over `max_bytes` (by its
/// declared length before reading, or as soon as the chunks read pass it). `embedder_timeout`
/// is set when the client is the embedder's: its per-attempt timeout, and a sign that the
/// client may follow redirects. `permit` is the attempt's place among the executor's requests
/// on the wire, held for as long as its wire work exists; `crowded`, that other requests of
/// the executor are on the wire too.
///
/// Combinators rather than an `async` block: a future made before the block and awaited in
/// it would have two places in its state, and the request moved into one made inside it
/// would keep its own (264 bytes) while the answer is awaited.
pub(super) fn once<'a>(
    client: &'a reqwest::Client,
    request: &'a Outgoing<'a>,
    embedder_timeout: Option<Duration>,
    max_bytes: usize,
    permit: Option<OwnedSemaphorePermit>,
    crowded: bool,
) -> impl Future<Output = Result<Raw, TaskError>> + 'a {
    let mut attempt = match request.attempt() {
        Ok(attempt) => attempt,
        Err(error) => return Either::Left(std::future::ready(Err(error))),
    };
    *attempt.body_mut() = Some(request.body.clone().into());
    if let Some(timeout) = embedder_timeout {
        *attempt.timeout_mut() = Some(timeout);
    }
    let redirects = embedder_timeout.is_some();
    let wire = if crowded && outside_any_task() {
        let client = client.clone();
        let work = async move { exchange(&client, attempt, max_bytes, redirects, permit).await };
        Either::Left(AbortOnDrop(tokio::spawn(
            work.instrument(tracing::Span::current()),
        )))
    } else {
        Either::Right(exchange(client, attempt, max_bytes, redirects, permit).map(Ok))
    };
    Either::Right(wire.map(move |joined| match joined {
        Ok(exchanged) => read(request, max_bytes, exchanged),
        // The attempt's own panic, raised where it would have been inline.
        Err(stopped) if stopped.is_panic() => std::panic::resume_unwind(stopped.into_panic()),
        // Only the runtime shutting down stops the task while it is awaited.
        Err(_) => Err(TaskError::new(
            ErrorKind::Interrupted,
            if request.idempotent() {
                "the async runtime shut down while the request was in flight; it is idempotent, so repeating it is safe".to_owned()
            } else {
                format!(
                    "the async runtime shut down while the request was in flight; {} may have taken effect",
                    request.endpoint.operation().label()
                )
            },
        )),
    }))
}

/// The attempt's answer as [`Raw`], or its failure classified, with the credential sent
/// scrubbed from whatever the answer echoes.
fn read(
    request: &Outgoing<'_>,
    max_bytes: usize,
    exchanged: Result<Exchange, reqwest::Error>,
) -> Result<Raw, TaskError> {
    let Exchange {
        status,
        mut headers,
        redirected_to,
        body,
    } = exchanged.map_err(|error| classify::transport(error, false, &request.scrub))?;
    request.scrub.headers(&mut headers);
    if let Some(url) = redirected_to {
        return Err(classify::followed_redirect(
            request,
            status,
            headers,
            url.as_str(),
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
                body: Bytes::new(),
                unread: Some(why),
            })
        }
    };
    let mut body = match body {
        Body::Read(body) => body,
        Body::TooLarge => {
            return unread(
                headers,
                format!("its body is larger than {max_bytes} bytes and was not read"),
            );
        }
        Body::Failed(error) if status.is_success() => {
            return Err(classify::transport(error, true, &request.scrub));
        }
        Body::Failed(error) => {
            let why = request.scrub.message(&format!(
                "its body could not be read: {}",
                classify::error_chain(&error)
            ));
            return unread(headers, why);
        }
    };
    request.scrub.body(&mut body);
    Ok(Raw {
        status,
        headers,
        body,
        unread: None,
    })
}

/// Whether the attempt is polled outside any task of a multi-threaded runtime: on the thread
/// blocking on it (as under `#[tokio::main]`), or on any thread that entered its handle. Its
/// connection's task runs on the runtime's workers, so that, when other requests are on the
/// wire too, the attempt's wire work runs as a task there: the request, the answer and the
/// end of its body pass between the attempt and the connection on the workers (and the
/// wake-up hyper gives the connection's task when the body is taken stays on its worker), and
/// only the whole answer crosses to the caller's thread, which meanwhile renders, checks and
/// hands off the other executions. One request at a time a task saves nothing, and measured
/// no faster (docs/performance.md). In a task (on a worker, or a blocking or local one) the
/// attempt stays in the execution's own future, as it does on a current-thread runtime,
/// where there is no crossing to save.
fn outside_any_task() -> bool {
    tokio::task::try_id().is_none()
        && tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
            runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        })
}

/// What the wire gave for one attempt, before it is classified.
struct Exchange {
    status: reqwest::StatusCode,
    headers: HeaderMap,
    /// Where a client that follows redirects (the embedder's) ended up, when that is not
    /// where the request was sent; its body is then not read.
    redirected_to: Option<reqwest::Url>,
    body: Body,
}

/// A response's body as read.
enum Body {
    Read(Bytes),
    /// Declared or found to be over the limit; not read (further).
    TooLarge,
    /// Reading it failed.
    Failed(reqwest::Error),
}

/// Sends `attempt` and reads its whole response, at most `max_bytes` of body. With `redirects`
/// (the client may follow some), an answer from elsewhere is reported as soon as its head is
/// in: nothing is read from, or waited for at, an origin the request was not sent to. Not an
/// `async fn`: the request moves into the client's future before the state is made, which
/// then does not keep a place for it (264 bytes) while it waits for the answer.
fn exchange(
    client: &reqwest::Client,
    attempt: reqwest::Request,
    max_bytes: usize,
    redirects: bool,
    permit: Option<OwnedSemaphorePermit>,
) -> impl Future<Output = Result<Exchange, reqwest::Error>> {
    // Boxed: only an embedder's client needs it, and a `Url` would take 88 bytes of every
    // attempt's state.
    let sent_to = redirects.then(|| Box::new(attempt.url().clone()));
    let sent = client.execute(attempt);
    async move {
        let mut response = sent.await?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let redirected_to = sent_to
            .filter(|sent_to| **sent_to != *response.url())
            .map(|_| response.url().clone());
        let body = if redirected_to.is_some() {
            Body::Read(Bytes::new())
        } else if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            Body::TooLarge
        } else {
            let mut read = Chunks::One(Bytes::new());
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if read.len() + chunk.len() > max_bytes => {
                        break Body::TooLarge;
                    }
                    Ok(Some(chunk)) => read.push(chunk),
                    Ok(None) => break Body::Read(read.into()),
                    Err(error) => break Body::Failed(error),
                }
            }
        };
        drop(permit);
        Ok(Exchange {
            status,
            headers,
            redirected_to,
            body,
        })
    }
}

/// A body's chunks as read: an answer read in one chunk stays the buffer the connection
/// filled; only an answer read in several is copied, into one buffer.
enum Chunks {
    One(Bytes),
    Joined(Vec<u8>),
}

impl Chunks {
    fn len(&self) -> usize {
        match self {
            Chunks::One(chunk) => chunk.len(),
            Chunks::Joined(joined) => joined.len(),
        }
    }

    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        match self {
            Chunks::One(first) if first.is_empty() => *first = chunk,
            Chunks::One(first) => {
                let mut joined = Vec::with_capacity(first.len() + chunk.len());
                joined.extend_from_slice(first);
                joined.extend_from_slice(&chunk);
                *self = Chunks::Joined(joined);
            }
            Chunks::Joined(joined) => joined.extend_from_slice(&chunk),
        }
    }
}

impl From<Chunks> for Bytes {
    fn from(chunks: Chunks) -> Bytes {
        match chunks {
            Chunks::One(chunk) => chunk,
            Chunks::Joined(joined) => joined.into(),
        }
    }
}

/// An attempt's task, aborted when the attempt is dropped (the runner cancelled, or its
/// deadline passed), as the attempt's own future would have been dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
