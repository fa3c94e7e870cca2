//! Small helpers with no knowledge of endpoints or requests.

pub(crate) mod clock;
pub(crate) mod fd;
pub(crate) mod noise;
pub(crate) mod pointer;
pub(crate) mod suggest;
