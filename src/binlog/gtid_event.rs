//! GTID events (STUB: to be replaced by the GTID work).
use super::error::Result;
use super::event_type::EventType;

#[derive(Debug, Clone)]
pub struct GtidEvent<'a> {
    pub raw: &'a [u8],
}
impl<'a> GtidEvent<'a> {
    pub fn parse(event_type: EventType, body: &'a [u8]) -> Result<GtidEvent<'a>> {
        let _ = (event_type, body);
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct PreviousGtidsEvent {}
impl PreviousGtidsEvent {
    pub fn parse(body: &[u8]) -> Result<PreviousGtidsEvent> {
        let _ = body;
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct MariadbGtidEvent {}
impl MariadbGtidEvent {
    pub fn parse(body: &[u8], server_id: u32, flags: u16) -> Result<MariadbGtidEvent> {
        let _ = (body, server_id, flags);
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct MariadbGtidListEvent {}
impl MariadbGtidListEvent {
    pub fn parse(body: &[u8]) -> Result<MariadbGtidListEvent> {
        let _ = body;
        todo!()
    }
}
