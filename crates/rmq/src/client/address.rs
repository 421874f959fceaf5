//! The HTTP address server that tells clients their name servers (Java `TopAddressing`).

use std::time::Duration;

use crate::error::{Error, Result};

/// `GET url`; the first line of the body, trimmed (Java cuts at the first line break).
///
/// # Errors
/// [`Error::InvalidResponse`] for a failed request or a non-200 answer.
pub(crate) async fn fetch(url: &str, timeout: Duration) -> Result<String> {
    let fail = |reason: String| Error::InvalidResponse {
        addr: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| fail(e.to_string()))?;
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
        .map_err(|e| fail(e.to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let body = resp.text().await.map_err(|e| fail(e.to_string()))?;
    Ok(body
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}
