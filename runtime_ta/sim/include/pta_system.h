/* The system pseudo-TA's key derivation command, as OP-TEE 4.x defines it (pta_system.h). */
#ifndef ONNX_TEE_SIM_PTA_SYSTEM_H
#define ONNX_TEE_SIM_PTA_SYSTEM_H

#define PTA_SYSTEM_UUID { 0x3a2f8978, 0x5dc0, 0x11e8, \
		{ 0x9c, 0x2d, 0xfa, 0x7a, 0xe0, 0x1b, 0xbe, 0xbc } }

#define TA_DERIVED_KEY_MIN_SIZE		16
#define TA_DERIVED_KEY_MAX_SIZE		32
#define TA_DERIVED_EXTRA_DATA_MAX_SIZE	1024

/* [in] memref[0] extra data, [out] memref[1] derived key (16..32 bytes) */
#define PTA_SYSTEM_DERIVE_TA_UNIQUE_KEY 1

#endif
