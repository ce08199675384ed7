# Names of the messages and options wire/ decodes, for people (fmipkey inspect); the
# firmware itself never imports this module, so the strings cost a board nothing.
from fmipkey.wire import certpath, fmip, mh, ndopt

MESSAGES = {ndopt.RS: "RS", ndopt.RA: "RA", ndopt.NS: "NS", ndopt.NA: "NA", ndopt.REDIRECT: "Redirect",
            certpath.ICMP_CPS: "CPS", certpath.ICMP_CPA: "CPA", fmip.ICMP_FMIP: "FMIPv6"}
FMIP_SUBTYPES = {fmip.RTSOLPR: "RtSolPr", fmip.PRRTADV: "PrRtAdv"}
OPTIONS = {ndopt.SRC_LLA: "Source LLA", ndopt.TGT_LLA: "Target LLA", ndopt.PREFIX_INFO: "Prefix Information",
           ndopt.REDIRECTED: "Redirected Header", ndopt.MTU: "MTU", ndopt.CGA: "CGA",
           ndopt.RSA_SIG: "RSA Signature", ndopt.TIMESTAMP: "Timestamp", ndopt.NONCE: "Nonce",
           ndopt.TRUST_ANCHOR: "Trust Anchor", ndopt.CERTIFICATE: "Certificate", ndopt.IP_ADDR: "IP Address",
           ndopt.NEW_PREFIX: "New Router Prefix", ndopt.FMIP_LLA: "FMIP LLA", ndopt.HK_REQUEST: "HK Request",
           ndopt.HK_REPLY: "HK Reply"}
MH_OPTIONS = {mh.OPT_PADN: "PadN", mh.OPT_ALT_COA: "Alternate CoA", mh.OPT_MH_LLA: "MH-LLA", mh.OPT_BADF: "BADF"}
FBU_FLAGS = (("A", mh.FLAG_A), ("H", mh.FLAG_H), ("L", mh.FLAG_L), ("K", mh.FLAG_K))
