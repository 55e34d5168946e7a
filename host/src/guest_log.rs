//! What components print: each line a guest writes to stdout or stderr becomes one log
//! line of the runtime, named after the component, so that it takes the log's format
//! (text or JSON) and its scrubbing of secrets. A guest's write never fails for it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The longest line kept whole; a longer one is logged in pieces of this size.
const MAX_LINE: usize = 8 * 1024;

/// Which of the guest's streams.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// stdout: logged at info.
    Stdout,
    /// stderr: logged at warn.
    Stderr,
}

/// A guest stream of `component` that ends up in the log.
#[derive(Clone)]
pub struct GuestLog {
    component: Arc<str>,
    stream: Stream,
}

impl GuestLog {
    /// The `stream` of `component`.
    pub fn new(component: Arc<str>, stream: Stream) -> GuestLog {
        GuestLog { component, stream }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(Lines {
            log: self.clone(),
            pending: Vec::new(),
        })
    }
}

/// Buffers a stream's bytes up to each newline.
struct Lines {
    log: GuestLog,
    pending: Vec<u8>,
}

impl Lines {
    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let component = &*self.log.component;
        match self.log.stream {
            Stream::Stdout => tracing::info!(component, stream = "stdout", "{component}: {line}"),
            Stream::Stderr => tracing::warn!(component, stream = "stderr", "{component}: {line}"),
        }
    }

    fn take_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line[..end]);
        }
        while self.pending.len() >= MAX_LINE {
            let piece: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
            self.emit(&piece);
        }
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}

impl AsyncWrite for Lines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.take_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.finish();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.finish();
    }
}
