// Pieces shared by seal.cpp and unseal.cpp.
#pragma once

#include "cryptnode/engine/tpm/policy.h"
#include "cryptnode/engine/tpm/seal.h"

namespace cryptnode::tpm::detail {

// ParsePCRSigningPubKey(constants.PCRPublicKey): an absent file is
// "failed to read pcr signing public key: open /.extra/tpm2-pcr-public-key.pem: no such file or
// directory".
RsaPublicKey read_pcr_signing_pub_key(const UkiExtraFiles& uki);
// tpm2.Marshal(TPM2BName): 2-byte size, then the name.
Bytes marshal_name(const Bytes& name);

}  // namespace cryptnode::tpm::detail
