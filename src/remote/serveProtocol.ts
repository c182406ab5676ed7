/** The serve protocol's constants (protocols.md, Part A), shared by its server and client. */
export const SERVE_MAGIC_1 = 0x390c9deb;
export const SERVE_MAGIC_2 = 0x5452eecb;
/** 2.7: Nix 2.8's. */
export const SERVE_PROTOCOL_VERSION = 0x207;
