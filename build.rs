//! Embeds `assets/static` with content-fingerprinted names, so pages can reference
//! `/static/app.<hash>.css` and a CDN may cache those URLs forever.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let static_dir = root.join("assets/static");
    println!("cargo:rerun-if-changed=assets/static");
    // sqlx::migrate! embeds migrations at compile time; a new file must trigger a rebuild.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=tests/next-release");
    let mut files = Vec::new();
    walk(&static_dir, &mut files);
    files.sort();
    let mut code = String::from("pub static FILES: &[Asset] = &[\n");
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&static_dir)
            .expect("walked under static_dir");
        let rel = rel
            .to_str()
            .expect("asset names are UTF-8")
            .replace('\\', "/");
        let body = std::fs::read(&file).expect("asset readable");
        let digest = Sha256::digest(&body);
        let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        let hashed = match rel.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{rel}.{hash}"),
        };
        writeln!(
            code,
            "    Asset {{ path: {rel:?}, hashed: {hashed:?}, etag: \"\\\"{hash}\\\"\", content_type: {:?}, body: include_bytes!({:?}) }},",
            content_type(&file),
            file.display().to_string()
        )
        .expect("write to String");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.rs");
    std::fs::write(out, code).expect("write generated assets.rs");
}
