//! Image data: finding image files (one walker), decoding and preprocessing them, labelled
//! folders and how they are split, augmentation, and the parallel batch loader.
pub mod augment;
pub mod check;
pub mod dataset;
pub mod decode;
pub mod findings;
pub mod folders;
pub mod images;
pub mod labelled;
pub mod labels_csv;
pub mod layout;
pub mod loader;
pub mod walk;
