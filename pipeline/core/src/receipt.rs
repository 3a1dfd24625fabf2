//! The receipt: triage's word that it has a hit, sent on the agent's
//! [`AgentTopic::Receipts`](crate::topics::AgentTopic::Receipts) (QoS 1) only after the transaction that stored the hit committed — or that kept it as a dead
//! letter, with the reason. An agent lets a hit leave its outbox only on its receipt, never on
//! the broker's PUBACK, so no broker (restarted, killed, or dropping its queue) can lose a hit:
//! whatever has no receipt is sent again, and triage drops repeats by `hit_id`.
//!
//! Its JSON Schema is `schemas/receipt.v1.schema.json`. Readers ignore unknown fields.

use serde::{Deserialize, Serialize};

use crate::hit::HitId;

/// The schema tag of this version.
pub const RECEIPT_SCHEMA: &str = "argus.receipt/1";

/// What became of a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Stored (now, or before: a repeat).
    Stored,
    /// Refused, kept as a dead letter: sending it again changes nothing.
    Dead,
}

/// One hit's receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitReceipt {
    /// The hit.
    pub hit_id: HitId,
    /// Stored or dead.
    pub status: ReceiptStatus,
    /// Why it was refused (dead letters only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Receipts for the hits of one batch from one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always [`RECEIPT_SCHEMA`].
    pub schema: String,
    /// The hits.
    pub hits: Vec<HitReceipt>,
    /// When triage sent it, Unix seconds by triage's clock: an agent measures its own clock
    /// against triage's with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<f64>,
}

impl Receipt {
    /// A receipt for `hits`, sent at `sent_at` (Unix seconds).
    pub fn new(hits: Vec<HitReceipt>, sent_at: f64) -> Self {
        Self {
            schema: RECEIPT_SCHEMA.into(),
            hits,
            sent_at: Some(sent_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_readers_ignore_unknown_fields() {
        let r = Receipt::new(
            vec![
                HitReceipt {
                    hit_id: HitId::now_v7(),
                    status: ReceiptStatus::Stored,
                    reason: None,
                },
                HitReceipt {
                    hit_id: HitId::now_v7(),
                    status: ReceiptStatus::Dead,
                    reason: Some("score 7 is out of range".into()),
                },
            ],
            1_779_876_000.5,
        );
        let mut v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["hits"][0].get("reason"), None);
        assert_eq!(v["hits"][1]["status"], "dead");
        v["instance"] = "triage-2".into();
        assert_eq!(serde_json::from_value::<Receipt>(v).unwrap(), r);
    }
}
