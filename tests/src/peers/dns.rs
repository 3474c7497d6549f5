//! DNS peer (to be written).
