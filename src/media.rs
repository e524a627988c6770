//! Article images, fetched once and kept in the shared directory (EFS on AWS), then served by
//! every instance from there. Readers' browsers never contact the image hosts (no tracking, no
//! mixed content), and an image host that disappears leaves no broken cards.
//!
//! Only images of stored articles are fetched (the URL names an article and the hash of its
//! image URL), only to public addresses (no requests into the VPC or the metadata service),
//! only real JPEG, PNG, GIF, WebP or AVIF, within a size cap.
use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// Largest image kept; bigger ones show the placeholder.
const MAX_BYTES: usize = 5 * 1024 * 1024;
/// A failed fetch is retried after this long, not on every page view.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct MediaStore {
    dir: PathBuf,
    /// Allow images on private, loopback and link-local addresses (local setups only).
    allow_private: bool,
    fetch_timeout: Duration,
    /// One turn per image being fetched: concurrent first requests for an image wait for
    /// one upstream fetch instead of each making their own.
    fetching: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A cached image ready to be streamed: the open file (at its start), its size and type.
#[derive(Debug)]
pub struct CachedImage {
    pub file: tokio::fs::File,
    pub len: u64,
    pub kind: &'static str,
}

/// The cache key of an image URL: its SHA-256 in hex. URLs carry the first 16 characters.
pub fn url_key(image_url: &str) -> String {
    crate::hex(&Sha256::digest(image_url.as_bytes()))
}

/// The content type of an image, from its first bytes; `None` for anything else (SVG
/// included: it can carry script).
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f', ..] => Some("image/avif"),
        _ => None,
    }
}

/// Addresses an image fetch must never reach: private networks, loopback, link-local
/// (including the cloud metadata service), and other non-global ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, and the deprecated site-local
                // fec0::/10 that some stacks still route internally.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // Documentation 2001:db8::/32.
                || first == 0x2001 && second == 0x0db8
                // Addresses that carry an IPv4 address a gateway forwards to, which may be
                // private: NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48, 6to4
                // 2002::/16, Teredo 2001::/32, and the deprecated IPv4-compatible ::/96.
                || first == 0x0064 && second == 0xff9b
                || first == 0x2002
                || first == 0x2001 && second == 0x0000
                || v6.segments()[..6] == [0; 6]
                // Discard-only 100::/64.
                || v6.segments()[..4] == [0x0100, 0, 0, 0])
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("not an http(s) URL")]
    BadUrl,
    #[error("the image host resolves to a non-public address")]
    Forbidden,
    #[error("fetch failed: {0}")]
    Fetch(String),
    #[error("not a supported image")]
    NotImage,
    #[error("image larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("cache write failed: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaStore {
    pub fn new(dir: &Path, allow_private: bool) -> std::io::Result<Self> {
        let dir = dir.join("media");
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            allow_private,
            fetch_timeout: Duration::from_secs(10),
            fetching: Arc::default(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(key)
    }

    fn failed_marker(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.failed"))
    }

    /// The cached image for `key`, if any, opened for streaming: only its first bytes are
    /// read (to check its type), however large it is.
    pub async fn cached(&self, key: &str) -> Option<CachedImage> {
        let mut file = tokio::fs::File::open(self.path(key)).await.ok()?;
        let len = file.metadata().await.ok()?.len();
        let mut head = [0u8; 16];
        let mut filled = 0;
        while filled < head.len() {
            match file.read(&mut head[filled..]).await.ok()? {
                0 => break,
                n => filled += n,
            }
        }
        let kind = sniff(&head[..filled])?;
        file.rewind().await.ok()?;
        Some(CachedImage { file, len, kind })
    }

    /// Fetches and stores `image_url` unless another request is already doing so, in which
    /// case this one waits for that fetch and uses its outcome (image or failure marker).
    pub async fn fetch_once(&self, image_url: &str, key: &str) -> Result<(), MediaError> {
        let turn = self
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = {
            let _turn = turn.lock().await;
            if tokio::fs::try_exists(self.path(key)).await.unwrap_or(false) {
                Ok(())
            } else if self.recently_failed(key).await {
                Err(MediaError::Fetch("an earlier fetch failed".into()))
            } else {
                self.fetch_and_store(image_url, key).await.map(|_| ())
            }
        };
        let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are only taken under this lock: two means the map's and ours, nobody waits.
        if Arc::strong_count(&turn) == 2 {
            fetching.remove(key);
        }
        result
    }

    /// Whether a recent fetch of `key` failed, so it should not be retried yet.
    pub async fn recently_failed(&self, key: &str) -> bool {
        let Ok(meta) = tokio::fs::metadata(self.failed_marker(key)).await else {
            return false;
        };
        meta.modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < RETRY_FAILED_AFTER)
    }

    /// Deletes cached images fetched before `cutoff`, failure markers older than the retry
    /// delay, and temporary files left by interrupted writes; returns how many files went.
    /// Images are kept per URL, not per article, so age is the only safe test: an image
    /// still in use by a newer article is fetched again on its next view.
    pub async fn sweep(&self, cutoff: SystemTime) -> std::io::Result<u64> {
        let dir = self.dir.clone();
        let failed_cutoff = SystemTime::now()
            .checked_sub(RETRY_FAILED_AFTER)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for shard in std::fs::read_dir(&dir)? {
                let shard = shard?.path();
                if !shard.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(&shard)? {
                    let entry = entry?;
                    let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                        continue;
                    };
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let limit = if name.ends_with(".failed") {
                        failed_cutoff
                    } else if name.contains(".tmp") {
                        // A write in progress takes seconds at most.
                        SystemTime::now()
                            .checked_sub(Duration::from_secs(3600))
                            .unwrap_or(SystemTime::UNIX_EPOCH)
                    } else {
                        cutoff
                    };
                    // Another instance may have removed it meanwhile: not an error.
                    if modified < limit && std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Fetches an image, checks it, and stores it for every instance. On failure a marker
    /// holds off retries for a while.
    pub async fn fetch_and_store(
        &self,
        image_url: &str,
        key: &str,
    ) -> Result<(Vec<u8>, &'static str), MediaError> {
        let result = self.fetch(image_url).await;
        let dir = self.dir.join(&key[..2]);
        tokio::fs::create_dir_all(&dir).await?;
        match result {
            Ok((bytes, kind)) => {
                let (path, bytes) = (self.path(key), bytes);
                let written = tokio::task::spawn_blocking(move || {
                    write_atomically(&path, &bytes).map(|()| bytes)
                })
                .await
                .map_err(|e| MediaError::Io(std::io::Error::other(e)))??;
                Ok((written, kind))
            }
            Err(e) => {
                let _ = tokio::fs::write(self.failed_marker(key), e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn fetch(&self, image_url: &str) -> Result<(Vec<u8>, &'static str), MediaError> {
        let url = url::Url::parse(image_url).map_err(|_| MediaError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(MediaError::BadUrl);
        }
        let host = url.host_str().ok_or(MediaError::BadUrl)?.to_owned();
        let port = url.port_or_known_default().ok_or(MediaError::BadUrl)?;
        // Resolve once, check every address, and connect to a checked one: a DNS answer
        // cannot change between the check and the connection.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| MediaError::Fetch(format!("cannot resolve the image host: {e}")))?
            .collect();
        if addrs.is_empty() || (!self.allow_private && addrs.iter().any(|a| !is_public(a.ip()))) {
            return Err(MediaError::Forbidden);
        }
        let client = pinned_client(&host, addrs[0], self.fetch_timeout)
            .map_err(|e| MediaError::Fetch(e.without_url().to_string()))?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| MediaError::Fetch(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(MediaError::Fetch(format!(
                "HTTP {}",
                response.status().as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err(MediaError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaError::Fetch(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(MediaError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let kind = sniff(&body).ok_or(MediaError::NotImage)?;
        Ok((body, kind))
    }
}

/// A client that connects to `addr` for `host` and nowhere else: no redirects, and no proxy
/// from `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` (a proxy would resolve and connect on its
/// own, past the address check, e.g. into the VPC).
fn pinned_client(
    host: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .resolve(host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!(
            "NewsRead/",
            env!("CARGO_PKG_VERSION"),
            " (image cache)"
        ))
        .build()
}

/// Temp file and rename: readers on any instance see a whole image or none.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses() {
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            // NAT64 (well-known and local-use), 6to4, Teredo, site-local, IPv4-compatible,
            // discard-only: each can lead to an IPv4 or internal address.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::808:808",
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            "fec0::1",
            "feff::1",
            "::7f00:1",
            "::a00:1",
            "100::1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[tokio::test]
    async fn sweeping_removes_old_images_markers_and_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(dir.path(), false).unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let file = |name: &str, age: Duration| {
            let shard = store.dir.join(&name[..2]);
            std::fs::create_dir_all(&shard).unwrap();
            let path = shard.join(name);
            let f = std::fs::File::create(&path).unwrap();
            f.set_modified(now - age).unwrap();
            path
        };
        let old_image = file("aa11", 40 * day);
        let new_image = file("aa22", 2 * day);
        let old_marker = file("bb33.failed", 2 * day);
        let new_marker = file("bb44.failed", Duration::from_secs(60));
        let leftover = file("cc55.tmp123", 2 * day);
        let writing = file("cc66.tmp456", Duration::from_secs(1));
        std::fs::write(store.dir.join("stray-file"), b"x").unwrap();

        let removed = store.sweep(now - 30 * day).await.unwrap();
        assert_eq!(removed, 3);
        for gone in [&old_image, &old_marker, &leftover] {
            assert!(!gone.exists(), "{}", gone.display());
        }
        for kept in [&new_image, &new_marker, &writing] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }

    #[test]
    fn sniffs_images_and_refuses_svg() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"GIF89a"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script/></svg>"),
            None
        );
        assert_eq!(sniff(b"<html>"), None);
    }
}
