"""Check a TLS server against Mozilla's intermediate configuration with sslyze.

Runs inside the tool environment (.venv-sslyze, from tests/tools/sslyze.lock: sslyze needs an
older cryptography than Ansible). Prints "compliant" or the issues, one a line; exit 0 or 1.
Usage: python mozilla_tls.py NAME ADDRESS PORT CA_FILE
"""

import sys
from pathlib import Path

from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)


def main(name: str, address: str, port: str, ca_file: str) -> int:
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=name, port=int(port), ip_address=address),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca_file))
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    for result in scanner.get_results():
        try:
            check_server_against_tls_configuration(
                result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
            )
        except ServerNotCompliantWithTlsConfiguration as error:
            for key, text in sorted(error.issues.items()):
                print(f"{key}: {text}")
            return 1
    print("compliant")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
