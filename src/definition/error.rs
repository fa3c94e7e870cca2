//! Why a definition cannot be used.

use std::fmt;

/// A definition that cannot be used: unreadable, not JSON, not OpenAPI 3.x, no such
/// operation, or a construct this crate does not support. The I/O or JSON error behind it is
/// its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct DefinitionError {
    kind: DefinitionErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What kind of problem a [`DefinitionError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefinitionErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not JSON.
    Syntax,
    /// Valid JSON, but not a usable OpenAPI 3.0/3.1 document, or a construct this crate does
    /// not support (an external `$ref`, a non-JSON body, ...).
    Unsupported,
    /// No such operation, or none was chosen among several.
    OperationNotFound,
    /// The body schema does not compile as JSON Schema.
    Schema,
    /// A server allowed with `EndpointBuilder::allow_server` is not an http(s) URL.
    AllowedServer,
}

impl DefinitionError {
    pub(crate) fn new(kind: DefinitionErrorKind, message: String) -> Self {
        DefinitionError {
            kind,
            message,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> DefinitionErrorKind {
        self.kind
    }

    /// The file could not be read.
    pub fn is_io(&self) -> bool {
        self.kind == DefinitionErrorKind::Io
    }

    /// The file is not JSON.
    pub fn is_syntax(&self) -> bool {
        self.kind == DefinitionErrorKind::Syntax
    }

    /// The selected operation is not in the definition, or none was selected among several.
    pub fn is_operation_not_found(&self) -> bool {
        self.kind == DefinitionErrorKind::OperationNotFound
    }

    /// The definition is valid JSON but uses something this crate cannot handle, or its body
    /// schema does not compile.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.kind,
            DefinitionErrorKind::Unsupported | DefinitionErrorKind::Schema
        )
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DefinitionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
