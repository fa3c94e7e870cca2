//! Why a text or document cannot be converted into a step.

use std::fmt;

/// A curl line or Conductor task that cannot become a step. Where the input is JSON, the
/// error names the value at fault by JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    kind: ConvertErrorKind,
    message: String,
    pointer: Option<String>,
}

/// What kind of problem a [`ConvertError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertErrorKind {
    /// The text does not parse: an unclosed quote, a flag without its value, no `curl`.
    Syntax,
    /// A curl option this converter does not know, or one it cannot honour (`-d @file`).
    Unsupported,
    /// Valid input of the wrong shape: not an HTTP task, a field of the wrong type.
    Shape,
    /// No operation of the definition has this method and URL.
    NoOperation,
    /// The request body is not JSON.
    Body,
    /// The step is not one its operation accepts (the test request finds errors): exporting
    /// it would write a request that is not the step's.
    InvalidStep,
}

impl ConvertErrorKind {
    /// The name answers and messages use: `syntax`, `unsupported`, `shape`, `no_operation`,
    /// `body`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConvertErrorKind::Syntax => "syntax",
            ConvertErrorKind::Unsupported => "unsupported",
            ConvertErrorKind::Shape => "shape",
            ConvertErrorKind::NoOperation => "no_operation",
            ConvertErrorKind::Body => "body",
            ConvertErrorKind::InvalidStep => "invalid_step",
        }
    }
}

impl ConvertError {
    pub(crate) fn new(kind: ConvertErrorKind, message: impl Into<String>) -> Self {
        ConvertError {
            kind,
            message: message.into(),
            pointer: None,
        }
    }

    pub(crate) fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ConvertErrorKind {
        self.kind
    }

    /// What is wrong, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON Pointer of the value at fault, when the input is JSON.
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pointer {
            Some(pointer) => write!(f, "{} (at {pointer:?})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConvertError {}
