//! Where a session's replies go while a command runs on a blocking thread: a
//! buffer that is handed to the connection's writer in pieces, so a FETCH of a
//! whole mailbox streams with bounded memory, and a client that stops reading
//! stops the command (the hand-over waits), instead of growing a buffer.

use tokio::sync::mpsc;

/// Bytes gathered before they are handed over.
pub const CHUNK: usize = 64 * 1024;

pub struct Out {
    pub buf: Vec<u8>,
    tx: Option<mpsc::Sender<Vec<u8>>>,
    closed: bool,
}

impl Out {
    /// Replies handed to `tx` in pieces of about [`CHUNK`] bytes.
    pub fn streaming(tx: mpsc::Sender<Vec<u8>>) -> Out {
        Out {
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            closed: false,
        }
    }

    /// Replies kept in `buf` until taken (tests).
    #[cfg(test)]
    pub fn buffered() -> Out {
        Out {
            buf: Vec::new(),
            tx: None,
            closed: false,
        }
    }

    /// Hands over what is gathered if it is a chunk's worth. Blocking: call it
    /// only on a blocking thread (the streaming case is only made there).
    pub fn maybe_flush(&mut self) {
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.closed {
            self.buf.clear();
            return;
        }
        if self.buf.is_empty() {
            return;
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        if tx.blocking_send(piece).is_err() {
            // The connection is gone: what follows is thrown away, and long
            // commands check `closed` to stop early.
            self.closed = true;
        }
    }

    /// Whether the connection went away while the command ran.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// What is left to write.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}
