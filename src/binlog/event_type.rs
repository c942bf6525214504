//! Event type codes of MySQL 5.x-9.x and MariaDB 10.x-11.x.
//!
//! Owns the byte-to-type mapping and the names printed for people. Unknown codes are kept as
//! [`EventType::Unknown`] so that a reader can skip events it does not understand by their
//! header length, as replicas do for events flagged ignorable.

macro_rules! event_types {
    ($($name:ident = $code:literal => $text:literal,)*) => {
        /// The type byte of an event's common header.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($name,)*
            /// A code this version does not know; the event can still be skipped.
            Unknown(u8),
        }

        impl EventType {
            pub fn from_u8(b: u8) -> EventType {
                match b {
                    $($code => EventType::$name,)*
                    other => EventType::Unknown(other),
                }
            }

            pub fn code(self) -> u8 {
                match self {
                    $(EventType::$name => $code,)*
                    EventType::Unknown(b) => b,
                }
            }

            /// The server's own name for the event, as `mysqlbinlog` prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$name => $text,)*
                    EventType::Unknown(_) => "Unknown",
                }
            }
        }
    };
}

event_types! {
    StartV3 = 1 => "Start_v3",
    Query = 2 => "Query",
    Stop = 3 => "Stop",
    Rotate = 4 => "Rotate",
    Intvar = 5 => "Intvar",
    Load = 6 => "Load",
    Slave = 7 => "Slave",
    CreateFile = 8 => "Create_file",
    AppendBlock = 9 => "Append_block",
    ExecLoad = 10 => "Exec_load",
    DeleteFile = 11 => "Delete_file",
    NewLoad = 12 => "New_load",
    Rand = 13 => "RAND",
    UserVar = 14 => "User_var",
    FormatDescription = 15 => "Format_desc",
    Xid = 16 => "Xid",
    BeginLoadQuery = 17 => "Begin_load_query",
    ExecuteLoadQuery = 18 => "Execute_load_query",
    TableMap = 19 => "Table_map",
    PreGaWriteRows = 20 => "Write_rows_pre_ga",
    PreGaUpdateRows = 21 => "Update_rows_pre_ga",
    PreGaDeleteRows = 22 => "Delete_rows_pre_ga",
    WriteRowsV1 = 23 => "Write_rows_v1",
    UpdateRowsV1 = 24 => "Update_rows_v1",
    DeleteRowsV1 = 25 => "Delete_rows_v1",
    Incident = 26 => "Incident",
    Heartbeat = 27 => "Heartbeat",
    Ignorable = 28 => "Ignorable",
    RowsQuery = 29 => "Rows_query",
    WriteRows = 30 => "Write_rows",
    UpdateRows = 31 => "Update_rows",
    DeleteRows = 32 => "Delete_rows",
    Gtid = 33 => "Gtid",
    AnonymousGtid = 34 => "Anonymous_Gtid",
    PreviousGtids = 35 => "Previous_gtids",
    TransactionContext = 36 => "Transaction_context",
    ViewChange = 37 => "View_change",
    XaPrepare = 38 => "XA_prepare",
    PartialUpdateRows = 39 => "Update_rows_partial",
    TransactionPayload = 40 => "Transaction_payload",
    HeartbeatV2 = 41 => "Heartbeat_v2",
    GtidTagged = 42 => "Gtid_tagged_log_event",
    MariadbAnnotateRows = 160 => "Annotate_rows",
    MariadbBinlogCheckpoint = 161 => "Binlog_checkpoint",
    MariadbGtid = 162 => "Gtid",
    MariadbGtidList = 163 => "Gtid_list",
    MariadbStartEncryption = 164 => "Start_encryption",
    MariadbQueryCompressed = 165 => "Query_compressed",
    MariadbWriteRowsCompressedV1 = 166 => "Write_rows_compressed_v1",
    MariadbUpdateRowsCompressedV1 = 167 => "Update_rows_compressed_v1",
    MariadbDeleteRowsCompressedV1 = 168 => "Delete_rows_compressed_v1",
    MariadbWriteRowsCompressed = 169 => "Write_rows_compressed",
    MariadbUpdateRowsCompressed = 170 => "Update_rows_compressed",
    MariadbDeleteRowsCompressed = 171 => "Delete_rows_compressed",
}

/// The operation a rows event carries, whatever its version or compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowsKind {
    Write,
    Update,
    Delete,
    /// MySQL 8.0 PARTIAL_UPDATE_ROWS: an update whose JSON after-values may be diffs.
    PartialUpdate,
}

impl EventType {
    /// For any rows event type: its operation, its row format version (1 or 2), and whether
    /// the body is MariaDB-compressed.
    pub fn rows_info(self) -> Option<(RowsKind, u8, bool)> {
        use EventType::*;
        Some(match self {
            WriteRowsV1 => (RowsKind::Write, 1, false),
            UpdateRowsV1 => (RowsKind::Update, 1, false),
            DeleteRowsV1 => (RowsKind::Delete, 1, false),
            WriteRows => (RowsKind::Write, 2, false),
            UpdateRows => (RowsKind::Update, 2, false),
            DeleteRows => (RowsKind::Delete, 2, false),
            PartialUpdateRows => (RowsKind::PartialUpdate, 2, false),
            MariadbWriteRowsCompressedV1 => (RowsKind::Write, 1, true),
            MariadbUpdateRowsCompressedV1 => (RowsKind::Update, 1, true),
            MariadbDeleteRowsCompressedV1 => (RowsKind::Delete, 1, true),
            MariadbWriteRowsCompressed => (RowsKind::Write, 2, true),
            MariadbUpdateRowsCompressed => (RowsKind::Update, 2, true),
            MariadbDeleteRowsCompressed => (RowsKind::Delete, 2, true),
            _ => return None,
        })
    }
}
