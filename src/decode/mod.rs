//! `gapfill decode`: binlog events rendered for people (text) and tools (JSON).
