/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pairing commands of the pairgate CLI. Each takes argv with the
 * command's own name in argv[0], prints its own one-line error, and returns
 * 0 or 1 (the exit status). All but genkey and pubkey talk to pairgated
 * over its control socket ($PAIRGATE_SOCKET or /run/pairgate/pairgated.sock);
 * none of them needs the bpffs.
 */
#ifndef PG_PAIRING_CLI_H
#define PG_PAIRING_CLI_H

int pg_cmd_genkey(int argc, char **argv);
int pg_cmd_pubkey(int argc, char **argv);
int pg_cmd_invite(int argc, char **argv);
int pg_cmd_join(int argc, char **argv);
int pg_cmd_peer(int argc, char **argv);		/* peer add | peer del */
int pg_cmd_peers(int argc, char **argv);
int pg_cmd_show(int argc, char **argv);
int pg_cmd_rekey(int argc, char **argv);

#define PG_PAIRING_USAGE \
	"  genkey                                      new private key on stdout\n" \
	"  pubkey                                      public key of the private key on stdin\n" \
	"  invite [--endpoint ADDR[:PORT]] [--ttl 10m] [--uses 1] [--name NAME]\n" \
	"  join TOKEN [--name NAME]                    pair with the host that invited us\n" \
	"  peer add NAME pubkey KEY [endpoint ADDR[:PORT]] [allow PREFIX ...]\n" \
	"  peer del NAME\n" \
	"  peers [--json]\n" \
	"  show                                        pairing state, like wg show\n" \
	"  rekey [NAME]                                start new sessions now\n"

#endif /* PG_PAIRING_CLI_H */
