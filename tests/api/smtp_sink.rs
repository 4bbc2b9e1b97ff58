//! A small SMTP server for the tests: it speaks enough SMTP for a real client (the
//! gateway's lettre transport), keeps every message it accepts, and can refuse the first
//! deliveries to exercise retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// A received message: the envelope recipient and the decoded text.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: String,
    pub text: String,
}

pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    refused: Arc<AtomicUsize>,
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 3 <= bytes.len()
            && let Some(byte) = joined
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SmtpSink {
    /// Starts the sink; it answers `451` to the first `refuse_first` messages.
    pub async fn start(refuse_first: usize) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let (store, counter) = (received.clone(), refused.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, counter) = (store.clone(), counter.clone());
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    if writer.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
                        return;
                    }
                    let mut to = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink.test\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("HELO")
                            || upper.starts_with("MAIL FROM")
                            || upper.starts_with("RSET")
                            || upper.starts_with("NOOP")
                        {
                            b"250 OK\r\n"
                        } else if upper.starts_with("RCPT TO") {
                            to = line[8..]
                                .trim()
                                .trim_start_matches(':')
                                .trim()
                                .trim_matches(|c| c == '<' || c == '>')
                                .to_owned();
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            if writer.write_all(b"354 go ahead\r\n").await.is_err() {
                                return;
                            }
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                data.push_str("\r\n");
                            }
                            if counter.fetch_add(1, Ordering::SeqCst) < refuse_first {
                                b"451 try again later\r\n"
                            } else {
                                store.lock().await.push(Received {
                                    to: to.clone(),
                                    text: decode_quoted_printable(&data),
                                });
                                b"250 queued\r\n"
                            }
                        } else if upper.starts_with("QUIT") {
                            let _ = writer.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        if writer.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SmtpSink {
            port,
            received,
            refused,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many deliveries were refused so far.
    pub fn refusals(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Waits for a message to `to` and returns it.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Received {
        let started = Instant::now();
        loop {
            if let Some(found) = self
                .received
                .lock()
                .await
                .iter()
                .find(|m| m.to == to)
                .cloned()
            {
                return found;
            }
            assert!(
                started.elapsed() < timeout,
                "no email to {to} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message to `to`, in the order received.
    pub async fn all_to(&self, to: &str) -> Vec<Received> {
        self.received
            .lock()
            .await
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    pub async fn count_to(&self, to: &str) -> usize {
        self.received
            .lock()
            .await
            .iter()
            .filter(|m| m.to == to)
            .count()
    }
}

/// The `token=` value in an email's text.
pub fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}
