//! The flight's memory bound and abandonment, without I/O.

use super::*;

fn flight() -> (Arc<Flights>, Publisher, Arc<Flight>) {
    let flights = Arc::new(Flights::default());
    let Role::Leader(handle) = flights.join(CanonicalKey::from_bytes([7; 32])) else {
        unreachable!("the first request leads")
    };
    let publisher = handle.publish_head(Head {
        status: StatusCode::OK,
        headers: Vec::new(),
    });
    let flight = publisher.flight().cloned().unwrap();
    (flights, publisher, flight)
}

fn buffered(flight: &Flight) -> usize {
    lock(&flight.state).buffered
}

#[test]
fn a_closed_flight_keeps_only_what_its_slowest_reader_has_not_read() {
    let (flights, publisher, flight) = flight();
    let mut fast = FollowerBody::new(flight.clone());
    let mut slow = FollowerBody::new(flight.clone());
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..4 {
        publisher.chunk(&Bytes::from_static(b"0123456789"));
    }
    assert_eq!(
        buffered(&flight),
        40,
        "kept for late joiners while storable"
    );
    publisher.close();
    assert!(
        matches!(
            flights.join(CanonicalKey::from_bytes([7; 32])),
            Role::Leader(_)
        ),
        "nobody joins a closed flight"
    );
    for _ in 0..4 {
        assert!(fast.poll_chunk(&mut cx).is_ready());
    }
    assert_eq!(buffered(&flight), 40, "the slow reader has read nothing");
    // Past the window, the driver waits for the slow reader.
    assert!(flight.poll_may_read(&mut cx, false, 25).is_pending());
    for _ in 0..2 {
        assert!(slow.poll_chunk(&mut cx).is_ready());
    }
    assert_eq!(buffered(&flight), 20);
    assert_eq!(flight.poll_may_read(&mut cx, false, 25), Poll::Ready(true));
    drop(slow);
    assert_eq!(buffered(&flight), 0, "read by every reader left");
    drop(fast);
    assert_eq!(
        flight.poll_may_read(&mut cx, false, 25),
        Poll::Ready(false),
        "nobody reads and it cannot be stored: abandon"
    );
    assert_eq!(flight.poll_may_read(&mut cx, true, 25), Poll::Ready(true));
}

#[test]
fn a_reader_that_joined_before_the_close_reads_from_the_first_chunk() {
    let (_flights, publisher, flight) = flight();
    let mut early = FollowerBody::new(flight.clone());
    publisher.close();
    publisher.chunk(&Bytes::from_static(b"first"));
    publisher.chunk(&Bytes::from_static(b"second"));
    publisher.finish(true);
    let mut cx = Context::from_waker(Waker::noop());
    let mut read = Vec::new();
    while let Poll::Ready(Some(chunk)) = early.poll_chunk(&mut cx) {
        read.push(chunk.unwrap());
    }
    assert_eq!(read, ["first", "second"]);
}

#[test]
fn the_leaders_last_declared_bytes_come_with_the_end() {
    let (_flights, publisher, flight) = flight();
    let mut leader = FollowerBody::new(flight.clone());
    leader.expect_length(Some(15));
    let mut cx = Context::from_waker(Waker::noop());
    publisher.chunk(&Bytes::from_static(b"0123456789"));
    publisher.chunk(&Bytes::from_static(b"abcde"));
    assert!(matches!(
        leader.poll_chunk(&mut cx),
        Poll::Ready(Some(Ok(chunk))) if chunk == "0123456789"
    ));
    assert!(!leader.is_end_stream());
    // What the flight does with a whole answer (its usage published, the
    // entry stored) happens before its end: the last bytes wait for it.
    assert!(leader.poll_chunk(&mut cx).is_pending());
    publisher.finish(true);
    assert!(matches!(
        leader.poll_chunk(&mut cx),
        Poll::Ready(Some(Ok(chunk))) if chunk == "abcde"
    ));
    assert!(
        leader.is_end_stream(),
        "the end is known with the last byte"
    );
    assert!(matches!(leader.poll_chunk(&mut cx), Poll::Ready(None)));
}

#[test]
fn a_closed_flights_last_bytes_are_not_held_for_its_end() {
    // The answer will not be stored, and its driver waits for readers that
    // fall a window behind: holding the last bytes would wait on it forever.
    let (_flights, publisher, flight) = flight();
    let mut leader = FollowerBody::new(flight.clone());
    leader.expect_length(Some(30));
    let mut cx = Context::from_waker(Waker::noop());
    publisher.chunk(&Bytes::from_static(b"012345678901234567890123456789"));
    publisher.close();
    assert!(flight.poll_may_read(&mut cx, false, 10).is_pending());
    assert!(matches!(
        leader.poll_chunk(&mut cx),
        Poll::Ready(Some(Ok(chunk))) if chunk.len() == 30
    ));
    assert_eq!(flight.poll_may_read(&mut cx, false, 10), Poll::Ready(true));
}
