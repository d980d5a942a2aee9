//! Parsers for what keepalived and the notify scripts write.
