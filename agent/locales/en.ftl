# sonde texts, in English.
# Customer texts are short and jargon-free; technician texts carry the detail.

## Summary

summary-healthy = Everything works: we found no problem with your connection.
summary-unknown = The diagnosis is incomplete: some checks could not be made.

## Steps (progress bar)

check-link = Network connection
check-gateway = Box response
check-internet_latency = Internet response time
check-dns = Site directory (DNS)
check-http = Web access
check-path = Path to the Internet
check-mtu = Packet size
check-throughput = Speed
check-responsiveness = Responsiveness under load
check-wifi = WiFi
check-mobile = Mobile network
check-system = Box health
check-unknown = Check

## Findings

NO_LINK = Your device is not connected to any network.
    .detail = No interface other than loopback has a carrier and an address ({ $interfaces_up } active interfaces).
    .customer = Check that the Ethernet cable is plugged in, or that WiFi is on and connected to your box, then run the test again.
    .technician = Check interface state (carrier, DHCP address) and the physical link or WiFi association.

NO_DEFAULT_ROUTE = Your device is connected but does not know how to reach the Internet.
    .detail = An interface is up but no default route is configured (incomplete DHCP lease?).
    .customer = Disconnect your device from the network and reconnect it (or turn WiFi off and on), then run the test again.
    .technician = Check the DHCP lease (router option) or static configuration; `ip route` shows no default route.

GATEWAY_UNREACHABLE = Your box does not respond.
    .detail = The gateway { $gateway } answered none of { $probes } ICMP echo requests, although the link is up.
    .customer = Check that your box is powered on, then restart it (unplug it for 10 seconds). Run the test again after two minutes.
    .technician = Check the box's power and state, ARP towards { $gateway }, and ICMP filtering on the box.

GATEWAY_PACKET_LOSS = The connection between your device and your box is losing data.
    .detail = { $loss } % loss towards the gateway { $gateway } (threshold { $threshold } %).
    .customer = Move closer to the box or use an Ethernet cable, then run the test again.
    .technician = Loss on the home network: check the cable, WiFi signal, interference and interface error counters.

GATEWAY_HIGH_LATENCY = Your box responds slowly.
    .detail = Median round-trip { $rtt } ms and jitter { $jitter } ms towards the gateway { $gateway }.
    .customer = Move closer to the box or use an Ethernet cable. If it persists, restart the box.
    .technician = Abnormal latency on a single local hop: WiFi congestion, box overloaded (CPU) or saturated home network.

DNS_NO_RESOLVER = Your device has no site directory (DNS) configured.
    .detail = No DNS server found ({ $source }).
    .customer = Disconnect your device from the network and reconnect it so it gets its settings again, then run the test again.
    .technician = No nameserver configured: check the DHCP lease's DNS option and the resolver configuration.

DNS_RESOLVER_FAILING = Your box works, but site names are no longer turned into addresses (DNS): sites will not open.
    .detail = Resolver(s) { $failing } do not answer ({ $answering } of { $configured } answer), while the gateway does.
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = Resolver failing (timeout, SERVFAIL or closed port): check the box's DNS relay and the operator's resolvers.

DNS_SLOW = Sites are slow to open: the site directory (DNS) answers slowly.
    .detail = Median DNS latency { $latency } ms (threshold { $threshold } ms).
    .customer = Restart your box. If it stays slow, run the test again later.
    .technician = Slow resolution: check resolver load and latency towards the operator.

CHECK_COULD_NOT_RUN = A check could not be made: the diagnosis is incomplete.
    .detail = The "{ $check }" check could not measure: { $reason }.
    .customer = Run the test again. If this message comes back, contact support.
    .technician = Fix the stated cause (privileges, configuration), then run the check again.

## Interface

problem-no-internet = No Internet
problem-slow = Internet is slow
problem-wifi = WiFi drops
problem-sites = Some sites or apps fail
problem-voip-tv = Phone or TV
problem-mobile = Mobile data
ui-running = Diagnosis running
ui-eta = about { $seconds } s left
ui-diagnosis = Diagnosis
ui-what-to-do = What to do
ui-evidence = Technical details
ui-checks = Checks
ui-operator-acts = Your operator must act.
ui-run-state = Test state: { $state }

## Internet findings

INTERNET_UNREACHABLE = Your box works, but its Internet connection is down.
    .detail = None of the { $anchors } measurement points on the Internet answers, while the box does.
    .customer = Restart your box and wait two minutes. If the Internet does not come back, we take over: a report is opened with your operator.
    .technician = Outage beyond the box: check the access line's sync, the box's WAN PPP/DHCP session and the backhaul.

ACCESS_PACKET_LOSS = Your Internet connection is losing data: pages and calls may cut out.
    .detail = { $loss } % loss towards the Internet (threshold { $threshold } %), while the home network loses none.
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = Loss beyond the box: check the access line (errors, attenuation) and the operator's network; the path check localises the segment.

INTERNET_HIGH_LATENCY = The Internet responds slowly from your box.
    .detail = Median round trip { $rtt } ms and jitter { $jitter } ms to the Internet, while the box answers fast.
    .customer = Check that no device is downloading a lot right now, then run the test again. If it stays slow, contact your operator.
    .technician = Latency beyond the box: access line congestion (queueing) or the operator's routing.

IPV6_BROKEN = Some sites may be slow to open: your box's IPv6 connection does not work.
    .detail = Your device has an IPv6 address and route, but no IPv6 measurement point answers, while IPv4 works.
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = IPv6 broken, IPv4 fine: check the box's prefix delegation and IPv6 route; browsers wait for IPv6 before falling back to IPv4.

## DNS findings (comparison)

DNS_ISP_RESOLVER_FAILING = Sites no longer open: your operator's site directory (DNS) does not answer, while others do.
    .detail = Resolver(s) { $failing } fail ({ $answering } of { $configured } answer); public resolvers answer normally.
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = The box's or the operator's resolver fails while the Internet and public resolvers work: check the box's DNS relay and the operator's resolvers.

DNS_HIJACK = Mistyped addresses lead you to pages that are not the right ones.
    .detail = Resolver(s) { $resolvers } answer for names that do not exist (NXDOMAIN hijacking).
    .customer = Nothing urgent: check the spelling of addresses. If apps fail, report it to your operator.
    .technician = NXDOMAIN rewriting by the resolver (search or ad pages): it breaks apps that expect NXDOMAIN; check the box's or the operator's option.

## WiFi findings

check-wifi-none = No WiFi

WIFI_WEAK_SIGNAL = Your device gets a weak WiFi signal from your box: the connection is slow and drops.
    .detail = Signal { $signal } dBm (signal-to-noise { $snr } dB, { $retries } % retransmissions) on the "{ $ssid }" network.
    .customer = Move closer to the box, or move it away from thick walls, mirrors and the microwave. For a device that does not move, use an Ethernet cable.
    .technician = Weak signal: check the box's placement, the band (prefer 5 GHz at short range), a repeater or another access point.

WIFI_CONGESTED = Your box's WiFi channel is crowded by neighbouring networks.
    .detail = The channel is busy { $busy } % of the time on the "{ $ssid }" network.
    .customer = Restart your box: it often picks a clearer channel. If it comes back, use the 5 GHz band.
    .technician = Saturated channel (high busy time): change channel, move to 5/6 GHz, narrow the channel width.

WIFI_INTERFERENCE = The WiFi is disturbed: much data has to be sent again.
    .detail = { $retries } % retransmissions with a { $signal } dBm signal on the "{ $ssid }" network.
    .customer = Move the box away from devices that disturb WiFi (microwave, baby monitor, wireless speakers), then run the test again.
    .technician = High retries despite a good signal: non-WiFi interference or a hidden node; change channel.

WIFI_INSECURE = Your WiFi network is not properly protected: others can use it or see what goes through it.
    .detail = The "{ $ssid }" network uses "{ $security }" security.
    .customer = In your box's WiFi settings, choose WPA2 or WPA3 security and a strong password.
    .technician = Open, WEP or WPA-TKIP network: move to WPA2-AES or WPA3.
