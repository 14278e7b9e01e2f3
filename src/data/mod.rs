//! Image data: finding image files, decoding them, and feeding batches to the model.
pub mod augment;
pub mod folders;
pub mod images;
pub mod loader;
