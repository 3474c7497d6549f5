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
ui-diagnosis = Diagnosis: { $summary }
ui-what-to-do = What to do
ui-evidence = Technical details
ui-checks = Checks
ui-operator-acts = Your operator must act.
ui-ticket-queued = Your repair request is registered; a text message will confirm its number.
ui-ticket-number = Repair request { $number } registered; a confirmation text message was sent to you.
ui-run-state = Test state: { $state }
ui-line-question = Which line do you want to test?
ui-line-box = The Internet box (Internet account)
ui-line-mobile = Mobile Internet (mobile number)
ui-line-id-question = Your Internet account or mobile number (Enter to skip)
ui-problem-question = What is the problem?
ui-launch = Starting the diagnosis…
ui-evidence-prompt = Enter: show the technical details · q then Enter: done
ui-evidence-hint = Technical details: run again with --evidence.
ui-ticket-acknowledged = Repair request { $number } registered.
ui-ticket-sms = Confirmation text message sent.

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

DNS_AAAA_FAILING = Sites are slow to start opening: the site directory (DNS) does not answer requests for IPv6 addresses.
    .detail = Resolver(s) { $resolvers } answer A queries (IPv4) but not AAAA queries (IPv6): { $answered } of { $sent } AAAA queries answered.
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = AAAA queries time out, get SERVFAIL or come back without records while A works: devices ask both and wait for AAAA (Happy Eyeballs), so every new name stalls for the resolver timeout. Check the box's DNS relay (AAAA filtering, firmware) and the operator's resolvers.

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

## Web findings

CAPTIVE_PORTAL = This network asks you to sign in on a welcome page before you can use the Internet.
    .detail = The captive-portal probe gets no 204 answer; it is redirected to { $location }.
    .customer = Open your browser: the network's sign-in page appears. Accept the terms or enter your credentials, then run the test again.
    .technician = Captive portal (3xx/200 instead of 204): authentication required on the local network or hotspot.

HTTPS_BLOCKED = Secure sites (https) are blocked on this network, while others get through.
    .detail = Connections to port 443 fail while port 80 answers.
    .customer = If you use parental control, an antivirus or a company network, check its settings. Otherwise, restart your box.
    .technician = HTTPS firewall: port 443 refused or filtered, port 80 open; check the box's firewall, a proxy or filtering.

TLS_INTERCEPTED = Secure connections are intercepted: sites refuse to open normally.
    .detail = Certificate rejected: { $error }.
    .customer = Check that your device's date and time are right. If an antivirus or monitoring software inspects traffic, turn that option off.
    .technician = Certificate error: TLS interception (proxy, antivirus, portal) or a wrong clock; compare the presented certificate's issuer.

REMOTE_SERVICE_DOWN = Your connection works, but the sites tested do not answer: the problem is on their side.
    .detail = None of the sites measured answers ({ $failed }), while the Internet and DNS work.
    .customer = Your line is not the cause. Try again later: the service may be down.
    .technician = Remote service outage: network and DNS fine, HTTP servers unreachable.

HTTPS_SLOW = Web pages take long to start showing.
    .detail = Median connect + TLS + first byte: { $latency } ms, while the network answers fast.
    .customer = Try again a little later. If it lasts, contact your operator.
    .technician = High HTTPS latency (ChromeOS HttpsLatency) without network latency: slow servers or the path to them.

THROUGHPUT_BELOW_CONTRACT = Your connection is slower than your subscription allows.
    .detail = Measured { $direction }: { $goodput } Mbit/s, { $percent } % of the { $expected } Mbit/s a { $contract } Mbit/s line carries ({ $efficiency } % TCP/IP efficiency).
    .customer = Restart your box and test again, wired if you can. If it stays slow, we take over: a report is opened with your operator.
    .technician = Goodput below the contract (expected = contract x 1448/1514) with the home network clean: check the line's sync rate, profile and congestion upstream.

BUFFERBLOAT = Your connection becomes sluggish when it is busy.
    .detail = Under load, round trips grow from { $idle } ms to { $loaded } ms (+{ $added } ms, { $rpm } RPM): queues on the path are oversized (bufferbloat).
    .customer = Calls and games stutter while someone downloads. Enabling "smart queue" (SQM) on the box, if offered, helps; otherwise a report is opened with your operator.
    .technician = Latency under load (draft-ietf-ippm-responsiveness): oversized FIFO at the bottleneck; enable AQM (fq_codel/cake) or size the queue to the line rate.

PMTU_BLACK_HOLE = Some sites or apps hang: large packets get lost on the way.
    .detail = Packets over { $mtu } bytes vanish without an error message (a PMTU black hole).
    .customer = Restart your box. If the problem continues, we take over: a report is opened with your operator.
    .technician = PMTU black hole: a reduced-MTU link sends no ICMP "fragmentation needed"; check MSS clamping and tunnels (PPPoE, DS-Lite).

## Mobile and box health findings

MOBILE_NO_SERVICE = Your mobile router has no network: it cannot connect to the mobile network.
    .detail = The modem reports "{ $registration }" on operator "{ $operator }": it is not registered on the network.
    .customer = Check that the SIM card is in place and that your plan is active, then restart the router. If it continues, we take over: a report is opened with your operator.
    .technician = Modem not registered (3GPP registration state { $registration }): check the SIM, the APN, the coverage at this address and a possible barring (registration denied) on the operator's side.

MOBILE_WEAK_SIGNAL = Your mobile router receives a weak signal: the connection is slow and drops.
    .detail = Signal on { $rat }: { $signal }.
    .customer = Move the router near a window or higher up, away from thick walls, then run the test again.
    .technician = Weak radio by 3GPP-based ranges (RSRP/RSRQ/SINR on 4G/5G, RSSI on 2G/3G): check the router's placement, an external antenna, the serving cell and band.

MODEM_OVERHEATING = Your mobile router is too hot.
    .detail = The modem is at { $temperature } °C (limit { $threshold } °C).
    .customer = Put the router in a ventilated place, out of the sun and away from other heat sources, then restart it.
    .technician = Modem temperature above its limit: the module throttles or drops the connection; check ventilation and the ambient temperature.

BOX_JUST_REBOOTED = Your equipment restarted a few minutes ago: that explains a recent cut.
    .detail = { $check } reports it has been up for { $uptime } seconds.
    .customer = If you did not restart it yourself and it happens again, check its power supply and tell us.
    .technician = Recent reboot (uptime { $uptime } s): a power cut, a crash or a firmware update; check the logs if it repeats.

BOX_OVERHEATING = Your box is too hot.
    .detail = The sensor "{ $sensor }" reads { $temperature } °C (limit { $threshold } °C).
    .customer = Put the box in a ventilated place, not in a closed cupboard, then restart it.
    .technician = Box temperature above its limit: check ventilation, fans and the ambient temperature.

BOX_MEMORY_PRESSURE = Your box is short of memory: it may slow down or restart.
    .detail = Only { $available } % of the memory is available (limit { $threshold } %).
    .customer = Restart your box. If it happens again, we take over.
    .technician = Memory pressure on the box: look for a leaking process, many connections or a firmware issue.

BOX_CPU_OVERLOAD = Your box's processor is overloaded: it may slow the connection.
    .detail = Load { $load } per processor (limit { $threshold }).
    .customer = Restart your box, then run the test again.
    .technician = Sustained load above the number of processors: look for a busy process on the box.
