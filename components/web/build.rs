//! Names each asset after its content (`style-<hash>.css`, `app-<hash>.js`), so that it
//! can be cached for ever and a new version is a new URL.

use std::fmt::Write;
use std::path::PathBuf;

/// (file under `assets/`, the constant naming its URL)
const ASSETS: [(&str, &str); 3] = [
    ("style.css", "STYLE_PATH"),
    ("app.js", "SCRIPT_PATH"),
    ("icon.svg", "ICON_PATH"),
];

fn main() {
    let mut code = String::new();
    for (file, constant) in ASSETS {
        let path = format!("assets/{file}");
        println!("cargo:rerun-if-changed={path}");
        let content = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // 64-bit FNV-1a: enough to tell versions of one file apart.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in &content {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let (stem, extension) = file.rsplit_once('.').expect("an extension");
        writeln!(
            code,
            "/// The URL of `assets/{file}`.\npub const {constant}: &str = \"/assets/{stem}-{hash:016x}.{extension}\";"
        )
        .unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("assets.rs"), code).expect("write assets.rs");
}
