// A TCTI for swtpm's data socket that keeps one connection per socket path for the whole process
// while any Tpm uses it, instead of one connection per TPM command (tcti_shared_socket.cpp says
// why; docs/tpm-and-firmware.md, "One swtpm connection per process").
#pragma once

#include <tss2/tss2_tcti.h>

#include <string>

namespace cryptnode::tpm::detail {

// For a TCTI configuration "swtpm:path=<unix socket>" (the form sim::Swtpm::tcti() gives), a
// context of this TCTI, connected; nullptr for any other configuration (the caller then uses
// tss2-tctildr) or when CRYPTNODE_TPM_TCTI=tctildr asks for tpm2-tss' own swtpm TCTI.
// `rc` receives TSS2_TCTI_RC_IO_ERROR when the socket does not accept a connection.
TSS2_TCTI_CONTEXT* shared_socket_tcti(const std::string& conf, TSS2_RC* rc);

// Finalizes and frees a context from shared_socket_tcti.
void free_shared_socket_tcti(TSS2_TCTI_CONTEXT* ctx);

// Whether `ctx` came from shared_socket_tcti.
bool is_shared_socket_tcti(const TSS2_TCTI_CONTEXT* ctx);

// Connections opened to swtpm sockets by this process so far (for tests).
unsigned long shared_socket_connections();

}  // namespace cryptnode::tpm::detail
