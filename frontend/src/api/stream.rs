//! Opening and reading a live stream over `fetch` (not `EventSource`, which cannot send the bearer
//! token): the body's `ReadableStream` read chunk by chunk, decoded as UTF-8 across chunk ends. The
//! frames are parsed by `common::sse::Parser`; what follows the end is `state::live::reconnect`.

use super::client::ApiClient;
use crate::state::live::Ended;
use common::ApplicationId;
use gloo_net::http::{Method, RequestBuilder};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, ReadableStreamDefaultReader, ReadableStreamReadResult, TextDecodeOptions,
    TextDecoder,
};

/// An open stream's body.
pub struct StreamBody {
    reader: ReadableStreamDefaultReader,
    decoder: TextDecoder,
}

impl StreamBody {
    /// The next chunk of text; `Ok(None)` when the body ended, `Err` when the connection broke
    /// (or the read was aborted).
    pub async fn next(&self) -> Result<Option<String>, ()> {
        let result = JsFuture::from(self.reader.read()).await.map_err(|_| ())?;
        let result: ReadableStreamReadResult = result.unchecked_into();
        if result.get_done().unwrap_or(false) {
            return Ok(None);
        }
        let bytes: js_sys::Uint8Array = result.get_value().dyn_into().map_err(|_| ())?;
        let opts = TextDecodeOptions::new();
        opts.set_stream(true);
        self.decoder
            .decode_with_js_u8_array_and_options(&bytes, &opts)
            .map(Some)
            .map_err(|_| ())
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        // closes the connection if the body is still being read; the promise is awaited so that
        // its rejection (an aborted body) is handled, not reported as uncaught
        let cancelled = JsFuture::from(self.reader.cancel());
        yew::platform::spawn_local(async move {
            let _ = cancelled.await;
        });
    }
}

impl ApiClient {
    /// Open the live stream of an application (`Last-Event-ID` on a reconnect).
    pub async fn open_stream(
        &self,
        id: ApplicationId,
        last_id: Option<&str>,
        signal: &AbortSignal,
    ) -> Result<StreamBody, Ended> {
        let mut rb = RequestBuilder::new(&self.url(&format!("/applications/{id}/stream")))
            .method(Method::GET)
            .header("accept", "text/event-stream")
            .abort_signal(Some(signal));
        if let Some(t) = self.token() {
            rb = rb.header("authorization", &format!("Bearer {t}"));
        }
        if let Some(l) = last_id {
            rb = rb.header("last-event-id", l);
        }
        let resp = rb
            .build()
            .map_err(|_| Ended::Network)?
            .send()
            .await
            .map_err(|_| Ended::Network)?;
        if resp.status() != 200 {
            return Err(Ended::Refused {
                status: resp.status(),
                retry_after: resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.trim().parse().ok()),
            });
        }
        let body = resp.body().ok_or(Ended::Closed)?;
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let decoder = TextDecoder::new().map_err(|_| Ended::Network)?;
        Ok(StreamBody { reader, decoder })
    }
}
