//! The one way the edge reads a request body into memory: with a running bound, stopping (and
//! cancelling the stream) as soon as it passes its limit, whether or not `Content-Length` was
//! declared. No route reads a body whole (`bytes()`, `text()`, `json()`, `form_data()`) first.

use futures_util::StreamExt as _;
use worker::{Request, Result};

/// The body, read up to `limit` bytes: `None` as soon as it is longer (declared or streamed), when
/// the rest is neither read nor kept: the stream is dropped, which cancels it.
pub(super) async fn read_bounded(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let declared = req.headers().get("Content-Length")?.and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    if req.inner().body().is_none() {
        return Ok(Some(Vec::new()));
    }
    let mut body = Vec::new();
    let mut stream = req.stream()?;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        if body.len() + piece.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&piece);
    }
    Ok(Some(body))
}

/// A multipart form parsed by the runtime from bytes already read (through [`read_bounded`]).
pub(super) async fn form(body: &[u8], content_type: &str) -> Result<worker::FormData> {
    let headers = worker::Headers::new();
    headers.set("Content-Type", content_type)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_headers(headers).with_body(Some(js_sys::Uint8Array::from(body).into()));
    Request::new_with_init("https://form.invalid/", &init)?.form_data().await
}
