//! The crate's own `uniffi-bindgen`: `make uniffi` runs it on the built library to write the
//! Kotlin and Swift sources, so they always match this crate's uniffi version.

fn main() {
    uniffi::uniffi_bindgen_main();
}
