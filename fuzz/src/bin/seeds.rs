//! Writes each target's seeds into `corpus/<target>/` (run from `fuzz/` before fuzzing).
use std::path::Path;

fn main() -> std::io::Result<()> {
    for target in leakhound::fuzzing::TARGETS {
        let dir = Path::new("corpus").join(target.name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in (target.seeds)().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}
