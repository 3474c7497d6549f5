//! HTTP peer (to be written).
