-- SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
--
-- Wireshark/tshark dissector for the pairgate shim: the 24 bytes after the
-- IPv4 or IPv6 header of a packet with IP protocol 253 (docs/protocol.md).
-- The rest of the packet goes to the dissector of the original protocol, so
-- the UDP, TCP or ICMP inside shows as usual.
--
--   tshark -X lua_script:tools/pairgate.lua -r drops.pcapng -V
--   tshark -X lua_script:tools/pairgate.lua -r FILE -T fields -e pairgate.spi
--   wireshark -X lua_script:tools/pairgate.lua, or copy the file into
--   ~/.local/lib/wireshark/plugins/ to load it always.
--
-- Filter fields: pairgate.next_proto, pairgate.version, pairgate.flags,
-- pairgate.flags.sealed, pairgate.reserved, pairgate.spi, pairgate.seq,
-- pairgate.tag.
--
-- Run as root, Wireshark loads Lua scripts only while init.lua's
-- run_user_scripts_when_superuser is true (Debian's default).

local SHIM_LEN = 24
local PROTO_SHIM = 253
local VERSION = 1
local FLAG_SEALED = 0x01

local shim = Proto("pairgate", "pairgate shim")

local f = {
	next_proto = ProtoField.uint8("pairgate.next_proto", "Next protocol", base.DEC),
	version = ProtoField.uint8("pairgate.version", "Version", base.DEC, nil, 0xf0),
	flags = ProtoField.uint8("pairgate.flags", "Flags", base.HEX, nil, 0x0f),
	sealed = ProtoField.bool("pairgate.flags.sealed", "Sealed (AEAD)", 8, nil,
				 FLAG_SEALED),
	reserved = ProtoField.uint16("pairgate.reserved", "Reserved", base.HEX),
	spi = ProtoField.uint32("pairgate.spi", "SPI", base.HEX),
	seq = ProtoField.uint64("pairgate.seq", "Sequence number", base.DEC),
	tag = ProtoField.bytes("pairgate.tag", "Tag (SipHash-2-4)"),
}
shim.fields = f

local e_version = ProtoExpert.new("pairgate.version.unknown", "Unknown shim version",
				  expert.group.MALFORMED, expert.severity.ERROR)
local e_reserved = ProtoExpert.new("pairgate.reserved.nonzero",
				   "Reserved field is not zero; receivers drop this",
				   expert.group.MALFORMED, expert.severity.WARN)
local e_short = ProtoExpert.new("pairgate.short", "Shorter than the 24-byte shim",
				expert.group.MALFORMED, expert.severity.ERROR)
shim.experts = { e_version, e_reserved, e_short }

local ip_proto = DissectorTable.get("ip.proto")
local data = Dissector.get("data")

local function add_header(tvb, tree)
	local t = tree:add(shim, tvb(0, SHIM_LEN))
	local vf = tvb(1, 1):uint()
	local spi = tvb(4, 4):uint()
	local seq = tvb(8, 8):uint64()

	t:add(f.next_proto, tvb(0, 1))
	local v = t:add(f.version, tvb(1, 1))
	t:add(f.flags, tvb(1, 1))
	t:add(f.sealed, tvb(1, 1))
	local r = t:add(f.reserved, tvb(2, 2))
	t:add(f.spi, tvb(4, 4))
	t:add(f.seq, tvb(8, 8))
	t:add(f.tag, tvb(16, 8))
	t:append_text(string.format(", SPI 0x%08x, Seq %s", spi, tostring(seq)))
	if bit32.rshift(vf, 4) ~= VERSION then
		v:add_proto_expert_info(e_version)
	end
	if tvb(2, 2):uint() ~= 0 then
		r:add_proto_expert_info(e_reserved)
	end
	return spi, seq, bit32.band(vf, FLAG_SEALED) ~= 0
end

function shim.dissector(tvb, pinfo, tree)
	if tvb:len() < SHIM_LEN then
		tree:add(shim, tvb()):add_proto_expert_info(e_short)
		return tvb:len()
	end
	local spi, seq, sealed = add_header(tvb, tree)
	local next_proto = tvb(0, 1):uint()

	pinfo.cols.protocol:set("pairgate")
	pinfo.cols.info:set(string.format("SPI 0x%08x Seq %s", spi, tostring(seq)))
	if tvb:len() == SHIM_LEN then
		return SHIM_LEN
	end
	local rest = tvb(SHIM_LEN):tvb()
	-- a sealed payload is ciphertext; try() falls back to data by itself
	if sealed or next_proto == PROTO_SHIM then
		data:call(rest, pinfo, tree)
	else
		ip_proto:try(next_proto, rest, pinfo, tree)
	end
	return tvb:len()
end

ip_proto:add(PROTO_SHIM, shim)
