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
  { messageType: 'ACK^<event>^ACK', when: 'application acknowledgment of an enhanced-mode message (MSH-16 AL, ER, SU), as a durable job' },
];
