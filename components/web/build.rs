//! Names the stylesheet after its content (`style-<hash>.css`), so that it can be cached
//! for ever and a new version is a new URL.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=assets/style.css");
    let css = std::fs::read("assets/style.css").expect("assets/style.css");
    // 64-bit FNV-1a: enough to tell versions of one file apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in &css {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(
        out.join("assets.rs"),
        format!("/// The stylesheet's URL.\npub const STYLE_PATH: &str = \"/assets/style-{hash:016x}.css\";\n"),
    )
    .expect("write assets.rs");
}
