use std::path::PathBuf;

/// Errors of loading and running detectors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferError {
    /// No `libonnxruntime.so` was found.
    #[error(
        "ONNX Runtime library not found (looked in: {searched}); run scripts/bootstrap.sh, or \
         `pip install onnxruntime==1.31.1` and set ORT_DYLIB_PATH to its onnxruntime/capi/libonnxruntime.so"
    )]
    RuntimeNotFound {
        /// Where it looked.
        searched: String,
    },
    /// The library was found but could not be loaded.
    #[error("could not load ONNX Runtime from {path}: {message}")]
    RuntimeLoad {
        /// The library.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The manifest is missing or wrong.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// ONNX Runtime refused the model file (corrupt, truncated, not ONNX).
    #[error("{path}: not a loadable ONNX model: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The model and its manifest disagree (names, shapes, class count).
    #[error("{path}: model does not match its manifest: {message}")]
    Mismatch {
        /// The model file.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A frame is not what it claims to be.
    #[error("frame {index}: {message}")]
    Frame {
        /// Position in the batch.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Inference failed.
    #[error("inference failed: {0}")]
    Run(String),
}
