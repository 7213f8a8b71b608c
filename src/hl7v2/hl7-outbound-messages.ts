// HL7 v2.5.1 messages the platform sends (CI-SIS Téléradiologie flux 3, CI-SIS CDA in HL7 v2, §2.9 acknowledgments), as data.

export interface OutboundMessage {
  /** MSH-9 */
  readonly messageType: string;
  /** MSH-21 message profile, when the volet sets one. */
  readonly profile?: string;
  readonly when: string;
}

export const HL7_OUTBOUND_MESSAGES: readonly OutboundMessage[] = [
  { messageType: 'ORU^R01^ORU_R01', profile: '1.0^CISIS_TLR_HL7_V2', when: 'CI-SIS Téléradiologie flux 3: the requis accepts the order (ORC-1 OK, OBX PROTOCOLE_IMAGERIE ED base64) or refuses it (OC, reason in ORC-16); to the RIS whose order created the dossier' },
  { messageType: 'MDM^T02^MDM_T02', profile: '2.1^CISIS_CDA_HL7_V2', when: 'the CR (CDA R2 level 1, PDF body) once validated (`send-report-dpi`), to the DPI the order came from or of the requester\'s organisation; TXA, PRT, OBX-5 ED base64, MetaDMPMSS flags (DESTDMP Y)' },
  { messageType: 'MDM^T10^MDM_T02', profile: '2.1^CISIS_CDA_HL7_V2', when: 'the CR amended or corrected after it was sent: a new version of the same document set (TXA-13 the replaced document, CDA relatedDocument RPLC)' },
  { messageType: 'MDM^T04^MDM_T02', profile: '2.1^CISIS_CDA_HL7_V2', when: 'the CR withdrawn (DiagnosticReport entered-in-error) after it was sent' },
  { messageType: 'ORU^R01^ORU_R01', profile: '2.1^CISIS_CDA_HL7_V2', when: 'the same CR events for a partner configured with `reportMessage: "ORU"`' },
  { messageType: 'ACK^<event>^ACK', when: 'application acknowledgment of an enhanced-mode message (MSH-16 AL, ER, SU), as a durable job' },
];
