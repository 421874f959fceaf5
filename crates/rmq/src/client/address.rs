//! The HTTP address server that tells clients their name servers (Java `TopAddressing`).

use std::time::Duration;

use super::config::redact_url;
use crate::error::{Error, Result};

/// Longest answer read from an address server: a name-server list is a line of addresses, so
/// anything longer is not one, and a hostile server cannot make the client buffer gigabytes.
const MAX_BODY_LEN: usize = 64 * 1024;

/// `GET url`; the first line of the body, trimmed (Java cuts at the first line break).
///
/// Errors name the URL without its user, password or query (they may hold credentials).
///
/// # Errors
/// [`Error::InvalidResponse`] for a failed request, a non-200 answer or a body over 64 KiB.
pub(crate) async fn fetch(url: &str, timeout: Duration) -> Result<String> {
    let fail = |reason: String| Error::InvalidResponse {
        addr: redact_url(url),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| fail(e.without_url().to_string()))?;
    let millis = crate::util::now_ms();
    let resp = client
        .get(url)
        .header("Client-Version", "V4_9_3")
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .header("Metaq-Client-RequestTS", millis.to_string())
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY_LEN {
            return Err(fail(format!("answer longer than {MAX_BODY_LEN} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&body);
    Ok(body
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_never_show_the_credentials_of_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://user:secret@127.0.0.1:{port}/rocketmq/nsaddr?token=abc");
        let err = fetch(&url, Duration::from_secs(1)).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("secret") && !shown.contains("abc"), "{shown}");
        assert!(shown.contains(&format!("127.0.0.1:{port}/rocketmq/nsaddr")), "{shown}");
    }
}
