//! The dashboard's files (`app/`) are embedded by `include_dir!`, which Cargo cannot see on
//! stable Rust: this makes any change under `app/` rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=app");
}
