// SPDX-License-Identifier: MPL-2.0
//! The player page, written into every output directory (`player/`), so the directory plays
//! from any static HTTP server too. The page's own files are built into the program; hls.js and
//! dash.js come from the npm packages `scripts/setup.sh` installs into `player/node_modules`
//! (pinned by `player/package-lock.json`), or from `LOCKSTEP_PLAYER_DIR`. Nothing is fetched at
//! run time.

use std::path::{Path, PathBuf};

use gstlockstep::packaging::output::write_atomically;

const INDEX_HTML: &str = include_str!("../../../player/index.html");
const PLAYER_JS: &str = include_str!("../../../player/player.js");

/// (file in the output's `player/`, path under `node_modules`)
const LIBRARIES: [(&str, &str); 2] = [
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    ("dash.all.min.js", "dashjs/dist/modern/umd/dash.all.min.js"),
];

/// Where the players' npm packages are.
fn node_modules() -> PathBuf {
    match std::env::var_os("LOCKSTEP_PLAYER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../player/node_modules"),
    }
}

/// Writes the page and the players into `out/player/`.
pub fn write(out: &Path) -> Result<(), String> {
    let dir = out.join("player");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let modules = node_modules();
    for (name, source) in LIBRARIES {
        let path = modules.join(source);
        let bytes = std::fs::read(&path).map_err(|_| {
            format!(
                "the player page needs {} ({}): run scripts/setup.sh, which installs it with npm",
                name,
                path.display()
            )
        })?;
        write_atomically(&dir, name, &bytes).map_err(|e| e.to_string())?;
    }
    write_atomically(&dir, "index.html", INDEX_HTML.as_bytes()).map_err(|e| e.to_string())?;
    write_atomically(&dir, "player.js", PLAYER_JS.as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}
