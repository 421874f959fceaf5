//! Offsets of a broadcasting consumer, kept in a local file (Java `LocalOffsetStore`):
//! `<dir>/<clientId>/<group>/offsets.json`, `dir` defaulting to `$HOME/.rocketmq_offsets`,
//! holding `{"offsetTable":{<queue>:<offset>,…}}` with fastjson's object keys — the file Java
//! writes, so a Java and a Rust broadcasting consumer of one client id and group read each
//! other's offsets.
//!
//! Written atomically: the new content goes to `offsets.json.tmp` (flushed to disk), the
//! current file is copied to `offsets.json.bak`, then the temporary file is renamed over it.
//! Read from the file, else from the backup. As in Java 5.x, a write merges with what the
//! file holds, so offsets of queues not held right now are kept.

use std::io;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use super::fastjson::{parse_queue_keyed_offsets, queue_keyed_map};
use crate::client::MessageQueue;

/// The file name Java uses.
const FILE_NAME: &str = "offsets.json";
/// Java's default directory under the user's home (`rocketmq.client.localOffsetStoreDir`).
const DEFAULT_DIR: &str = ".rocketmq_offsets";

/// One broadcasting consumer's offsets file.
#[derive(Debug)]
pub(crate) struct LocalOffsetFile {
    path: PathBuf,
    /// One write at a time: the periodic persist and a released queue may overlap.
    writing: Mutex<()>,
}

impl LocalOffsetFile {
    /// The file of `group` in `client_id`'s directory under `dir` (default
    /// `$HOME/.rocketmq_offsets`, or the working directory when there is no home).
    pub(crate) fn new(dir: Option<&Path>, client_id: &str, group: &str) -> Self {
        let base = match dir {
            Some(dir) => dir.to_path_buf(),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(DEFAULT_DIR),
        };
        Self {
            path: base.join(client_id).join(group).join(FILE_NAME),
            writing: Mutex::new(()),
        }
    }

    /// Where the offsets live.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored offsets: from the file, else from its backup; none when neither exists.
    ///
    /// # Errors
    /// The file exists but cannot be read.
    pub(crate) async fn load(&self) -> io::Result<Vec<(MessageQueue, i64)>> {
        let path = self.path.clone();
        run_blocking(move || read_with_backup(&path)).await
    }

    /// Stores `offsets` (merged into what the file holds) atomically.
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub(crate) async fn store(&self, offsets: Vec<(MessageQueue, i64)>) -> io::Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let _one_writer = self.writing.lock().await;
        let path = self.path.clone();
        run_blocking(move || {
            let mut table = read_with_backup(&path)?;
            for (mq, offset) in offsets {
                match table.iter_mut().find(|(m, _)| *m == mq) {
                    Some(entry) => entry.1 = offset,
                    None => table.push((mq, offset)),
                }
            }
            table.sort();
            write_atomically(&path, &table)
        })
        .await
    }
}

/// Runs file I/O on the blocking pool (never on the caller's runtime threads).
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

fn read_with_backup(path: &Path) -> io::Result<Vec<(MessageQueue, i64)>> {
    for candidate in [path.to_path_buf(), with_suffix(path, ".bak")] {
        match std::fs::read(&candidate) {
            Ok(bytes) if !bytes.is_empty() => return Ok(parse_queue_keyed_offsets(&bytes)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Vec::new())
}

fn write_atomically(path: &Path, table: &[(MessageQueue, i64)]) -> io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let content = format!(
        "{{\"offsetTable\":{}}}",
        queue_keyed_map(table.iter().map(|(mq, o)| (mq, o.to_string())))
    );
    let tmp = with_suffix(path, ".tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
    }
    if path.exists() {
        std::fs::copy(path, with_suffix(path, ".bak"))?;
    }
    std::fs::rename(&tmp, path)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offsets_survive_a_round_trip_merge_and_a_lost_file() {
        let dir = std::env::temp_dir().join(format!("rmq-local-offsets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = LocalOffsetFile::new(Some(&dir), "127.0.0.1@b1", "G");
        assert!(file.load().await.unwrap().is_empty());
        let q0 = MessageQueue::new("T", "broker-a", 0);
        let q1 = MessageQueue::new("T", "broker-a", 1);
        file.store(vec![(q0.clone(), 5), (q1.clone(), 7)])
            .await
            .unwrap();
        // A later write of one queue keeps the other.
        file.store(vec![(q0.clone(), 9)]).await.unwrap();
        let loaded = file.load().await.unwrap();
        assert_eq!(loaded, vec![(q0.clone(), 9), (q1.clone(), 7)]);
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(
            text.starts_with(
                r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:9"#
            ),
            "{text}"
        );
        // Without the file, the backup (the content before the last write) is read.
        std::fs::remove_file(file.path()).unwrap();
        assert_eq!(
            file.load().await.unwrap(),
            vec![(q0, 5), (q1, 7)],
            "read from offsets.json.bak"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn java_pretty_printed_files_are_read() {
        let java = "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":3,\n\t\t\t\"topic\":\"T\"\n\t\t}:42\n\t}\n}";
        let table = parse_queue_keyed_offsets(java.as_bytes());
        assert_eq!(table, vec![(MessageQueue::new("T", "broker-a", 3), 42)]);
    }
}
