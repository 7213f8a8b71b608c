// HL7 v2.5.1 §2.14 MSH: the partners (RIS, DPI, GAM) the platform exchanges messages with, as configured (HL7V2_PARTNERS).

/** MSH-18 character sets the platform reads and writes (CI-SIS: "UNICODE UTF-8" or "8859/15"). */
export const HL7_CHARSETS = ['UNICODE UTF-8', '8859/15', '8859/1', 'ASCII'] as const;
export type Hl7Charset = (typeof HL7_CHARSETS)[number];

/** Acknowledgment mode (HL7 v2.5.1 §2.9.2 original, §2.9.3 enhanced: accept ACK CA/CE/CR then application ACK). */
export type AckMode = 'original' | 'enhanced';

/** How the report (CR) goes back to this partner's DPI (CI-SIS "Transmission de documents CDA en HL7v2"). */
export type ReportMessage = 'MDM' | 'ORU';

export interface Hl7Partner {
  /** Our name for the partner: unique, used in job ordering keys, logs and the operator's lists. */
  readonly name: string;
  /** MSH-3 / MSH-4 the partner sends as (inbound messages are matched to a partner by them). */
  readonly application: string;
  readonly facility: string;
  /** Where we send to (MSH-5 / MSH-6 of our messages are application / facility); absent: inbound only. */
  readonly host?: string;
  readonly port?: number;
  /** MLLP over TLS toward the partner (the listener's TLS is global: HL7V2_TLS_*). */
  readonly tls?: boolean;
  /** Character set of the messages we send; inbound messages are decoded by their own MSH-18, else by this. */
  readonly charset: Hl7Charset;
  readonly ackMode: AckMode;
  /** Report messages for this partner's DPI: MDM^T02/T10/T04 (default) or ORU^R01. */
  readonly reportMessage: ReportMessage;
  /**
   * Téléradiologie orders (flux 1) from this partner: the requis the created dossier is addressed to (a
   * PractitionerRole, CareTeam or Organization reference, `Type/id`). Orders are refused (AE) when absent.
   */
  readonly orderOwner?: string;
  /** FINESS (or other) Organization references whose dossiers' reports go to this partner's DPI. */
  readonly organizations: readonly string[];
}

/** Our own MSH-3 / MSH-4 (HL7V2_APPLICATION / HL7V2_FACILITY). */
export interface Hl7Identity {
  readonly application: string;
  readonly facility: string;
}
